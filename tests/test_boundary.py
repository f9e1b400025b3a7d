"""The protocol boundary (docs/protocol.md, "Errors"): every frame a live Blender receives, over either transport,
gets a reply; a malformed one gets an E reply of kind ``protocol``, and the env goes on stepping exactly as
before. Frames come from a second REQ peer on the env's own socket, or are put into its lane directly."""

from __future__ import annotations

import json
from collections.abc import Callable

import gymnasium
import numpy as np
import pytest
import zmq
from blendgym_blender import lane as lanes
from blendgym_blender import wire

import blendgym
from blendgym.channel import decode_reply

from conftest import process_alive

ENV_ID = "blendgym/CartPole-v0"
PROTOCOL, ENV, STATE, ATTRIBUTE = wire.ERROR_PROTOCOL, wire.ERROR_ENV, wire.ERROR_STATE, wire.ERROR_ATTRIBUTE
# Each malformed frame with the error kind it must get (docs/protocol.md, "Errors"), in the order sent: the
# rejected reset leaves no episode, so a valid reset (kind None: answered, not refused) comes before the
# malformed steps, which would otherwise get the state error that the state check gives first.
MALFORMED = [
    *((frame, PROTOCOL) for frame in (b"", b"H", b"Hnull", b"H[]", b"H5", b'H"x"', b'H{"protocol": "7"}', b"H{")),
    *((frame, PROTOCOL) for frame in (b"R", b"Rnull", b"R[]", b'R{"seed": "a"}', b'R{"seed": 1.5}', b'R{"options": 5}')),
    (b'R{"options": {"no_such_option": 1}}', ENV),
    (wire.STEP_REQUEST_PREFIX + bytes(8), STATE),
    (wire.encode_reset(1, None), None),
    *((frame, PROTOCOL) for frame in (b"S", wire.STEP_REQUEST_PREFIX, wire.STEP_REQUEST_PREFIX + bytes(3), wire.STEP_REQUEST_PREFIX + bytes(9))),
    *((frame, PROTOCOL) for frame in (b"A", b"A[]", b"A{}")),
    *((frame, ATTRIBUTE) for frame in (b'A{"get": 5}', b'A{"set": []}', b'A{"call": "nothing", "args": 3}', b'A{"call": "x", "kwargs": []}')),
    *((frame, PROTOCOL) for frame in (b"Z", b"\x00", b"\xff" * 100, b"E{}")),
    (b"W", STATE),
    (b"I", STATE),
]


def fuzzed_frames(count: int, seed: int) -> list[bytes]:
    """Random frames under every opcode but close, and valid frames cut short or with bytes flipped."""
    rng = np.random.default_rng(seed)
    valid = [
        wire.encode_reset(1, None),
        wire.STEP_REQUEST_PREFIX + np.int64(1).tobytes(),
        wire.encode_attribute({"get": "force_mag"}),
        wire.encode_hello(1, "x"),
    ]
    frames = []
    for _ in range(count):
        if rng.random() < 0.5:
            opcode = bytes([rng.choice(list(b"HRSAIWEZ\x00"))])
            frames.append(opcode + rng.integers(0, 256, int(rng.integers(0, 64)), dtype=np.uint8).tobytes())
        else:
            frame = bytearray(valid[int(rng.integers(len(valid)))])
            frame = frame[: int(rng.integers(1, len(frame) + 1))]
            for _ in range(int(rng.integers(0, 3))):
                frame[int(rng.integers(len(frame)))] = int(rng.integers(256))
            frames.append(bytes(frame))
    return [frame for frame in frames if frame[:1] != wire.CLOSE]


def trajectory(env: gymnasium.Env) -> np.ndarray:
    observation, _ = env.reset(seed=3)
    steps = [observation]
    for action in np.random.default_rng(3).integers(0, 2, 60):
        observation, reward, terminated, truncated, _ = env.step(int(action))
        steps.append(np.append(observation, [reward, terminated, truncated]))
        if terminated or truncated:
            steps.append(env.reset()[0])
    return np.concatenate(steps)


def peer(env: gymnasium.Env, transport: str) -> tuple[Callable[[bytes], bytes], Callable[[], None]]:
    """A way to send one raw frame to the env's Blender and get its reply, and a way to stop."""
    process = env.unwrapped.process
    if transport == "lane":
        lane = process.lane

        def through_lane(frame: bytes) -> bytes:
            lane.put_request(frame)
            assert lane.wait_reply(0.0, 10.0), f"no reply to {frame[:40]!r} within 10 s"
            return lane.take_reply()

        return through_lane, lambda: None
    context = zmq.Context()
    socket = context.socket(zmq.REQ)
    socket.setsockopt(zmq.LINGER, 0)
    socket.connect(f"ipc://{process.directory}/agent.sock")

    def through_socket(frame: bytes) -> bytes:
        socket.send(frame)
        assert socket.poll(10_000), f"no reply to {frame[:40]!r} within 10 s"
        return socket.recv()

    def stop() -> None:
        socket.close()
        context.term()

    return through_socket, stop


@pytest.mark.parametrize("transport", ["zmq", "lane"])
def test_malformed_and_fuzzed_frames_all_get_replies_and_the_env_steps_as_before(transport: str) -> None:
    if transport == "lane" and not lanes.supported():
        pytest.fail("lanes need Linux on x86-64; run this test there")
    reference = gymnasium.make(ENV_ID, transport=transport)
    try:
        expected = trajectory(reference)
    finally:
        reference.close()
    env = gymnasium.make(ENV_ID, transport=transport)
    exchange, stop = peer(env, transport)
    try:
        env.reset(seed=0)
        assert env.unwrapped.process.on_lane == (transport == "lane")
        for frame, kind in MALFORMED:
            reply = exchange(frame)
            if kind is None:
                assert reply[:1] == frame[:1], f"{frame!r} got {reply[:60]!r}"
                continue
            assert reply[:1] == wire.ERROR, f"{frame!r} got {reply[:60]!r}"
            assert json.loads(reply[1:])["kind"] == kind, f"{frame!r} got {reply[:200]!r}"
        replies = [bytes(exchange(frame)[:1]) for frame in fuzzed_frames(10_000, seed=1)]
        assert set(replies) <= {wire.ERROR, wire.HELLO, wire.RESET, wire.STEP, wire.ATTRIBUTE, wire.IMAGE}
        assert process_alive(env.unwrapped.process.process.pid)
        np.testing.assert_array_equal(trajectory(env), expected)
    finally:
        stop()
        env.close()


def test_a_hello_reply_of_another_protocol_version_is_refused_by_the_host() -> None:
    env = blendgym.BlenderEnv("blendgym_envs.cartpole:CartPole")
    try:
        process = env.process
        for reply in (wire.HELLO + b'{"protocol": 6}', wire.HELLO + b"[]", wire.HELLO + b"{"):
            with pytest.raises(blendgym.BlenderProtocolError, match="protocol"):
                process.take_hello(reply)
        for reply in (wire.ERROR + b"[]", wire.ERROR + b"{", wire.ATTRIBUTE + b"[]"):
            decode = wire.decode_error_reply if reply[:1] == wire.ERROR else wire.decode_attribute_reply
            with pytest.raises(blendgym.BlenderProtocolError, match="does not follow the protocol"):
                decode_reply(process.name, "step", decode, reply)
        assert process.error_from_reply(wire.encode_error(wire.ERROR_ENV, "ValueError", "bad"), "step").args[0].endswith("Call reset() to go on.")
    finally:
        env.close()


def test_use_after_close_is_a_clear_error() -> None:
    env = gymnasium.make(ENV_ID)
    env.reset(seed=0)
    env.step(0)
    env.close()
    for call in (lambda: env.unwrapped.step(0), lambda: env.unwrapped.reset(), lambda: env.unwrapped.remote_get("force_mag")):
        with pytest.raises(blendgym.BlenderEnvError, match="the env is closed"):
            call()


def test_a_garbled_reply_is_a_protocol_error_and_the_next_reset_starts_a_new_blender() -> None:
    env = gymnasium.make(ENV_ID)
    try:
        env.reset(seed=0)
        channel = env.unwrapped.process
        old, take = channel.process.pid, channel.transport.take
        channel.transport.take = lambda: take()[:5]  # the reply cut short on its way to the host
        with pytest.raises(blendgym.BlenderProtocolError, match=r"CartPole-v0 .*reply to step does not follow the protocol"):
            env.step(0)
        env.reset(seed=0)
        assert env.unwrapped.process.process.pid != old
        env.step(0)
    finally:
        env.close()
    envs = gymnasium.make_vec(ENV_ID, num_envs=2, vectorization_mode="vector_entry_point")
    try:
        envs.reset(seed=0)
        transport = envs.unwrapped._pool.processes[1].transport
        take = transport.take
        transport.take = lambda: take()[:3]
        with pytest.raises(blendgym.BlenderProtocolError, match=r"CartPole-v0\[1\].*reply to step does not follow the protocol"):
            envs.step(np.array([0, 1]))
    finally:
        envs.close()


def test_the_base_classs_bookkeeping_cannot_be_set_remotely_and_stepping_is_unchanged() -> None:
    reference = gymnasium.make(ENV_ID)
    try:
        expected = trajectory(reference)
    finally:
        reference.close()
    env = gymnasium.make(ENV_ID)
    try:
        env.reset(seed=0)
        for name, value in (("frame", 5), ("start_frame", 100), ("cache_end", 2), ("first_cache_end", 2), ("frame_skip", 3)):
            with pytest.raises(blendgym.BlenderAttributeError, match=rf"'{name}' is not offered remotely. CartPole offers parameters"):
                env.unwrapped.remote_set(name, value)
        np.testing.assert_array_equal(trajectory(env), expected)
    finally:
        env.close()
