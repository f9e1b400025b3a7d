"""The protocol conformance matrix (docs/protocol.md), in the spirit of dm_env_rpc's: every message kind, valid
and malformed (truncated, wrong JSON types, NaN and Infinity, oversized, unknown opcodes, out of order), in
every server state (an env before any reset, running, after an env error; a data generator), sent straight
into a live Blender's lane. Each frame gets the reply the protocol names, the state changes only as it says,
and the server serves on."""

from __future__ import annotations

import json
from collections.abc import Callable

import numpy as np
from blendgym_blender import wire

import blendgym
from blendgym.data import BlenderDataset

from conftest import FAULTY_ENV, process_alive

HUGE = 1 << 20
Exchange = Callable[[bytes], bytes]


def exchanger(lane: object) -> Exchange:
    def exchange(frame: bytes) -> bytes:
        lane.put_request(frame)  # type: ignore[attr-defined]
        assert lane.wait_reply(0.0, 30.0), f"no reply to {frame[:40]!r}"  # type: ignore[attr-defined]
        return bytes(lane.take_reply())  # type: ignore[attr-defined]

    return exchange


def expect(exchange: Exchange, frame: bytes, opcode: bytes, kind: str | None = None) -> bytes:
    reply = exchange(frame)
    assert reply[:1] == opcode, f"{frame[:50]!r}: expected {opcode!r}, got {reply[:120]!r}"
    if opcode == wire.ERROR and kind is not None:
        assert json.loads(reply[1:])["kind"] == kind, f"{frame[:50]!r}: {reply[:200]!r}"
    return reply


def step(action: int) -> bytes:
    return wire.STEP_REQUEST_PREFIX + np.int64(action).tobytes()


# Frames every state answers the same way, and leaves the state as it was.
def common_probes(served_attribute: str) -> list[tuple[bytes, bytes, str | None]]:
    E, PROTOCOL, ATTRIBUTE = wire.ERROR, wire.ERROR_PROTOCOL, wire.ERROR_ATTRIBUTE
    return [
        (wire.encode_hello(1, "host"), wire.HELLO, None),
        (wire.HELLO + b'{"protocol": %d, "pad": "' % wire.PROTOCOL_VERSION + b"x" * HUGE + b'"}', wire.HELLO, None),  # oversized, still valid
        (wire.encode_attribute({"get": served_attribute}), wire.ATTRIBUTE, None),
        (wire.encode_attribute({"get": "frame"}), E, ATTRIBUTE),  # the base class's bookkeeping is not offered
        (wire.encode_attribute({"get": "x" * HUGE}), E, ATTRIBUTE),
        (b"H", E, PROTOCOL),
        (b"H[]", E, PROTOCOL),
        (b"Hnull", E, PROTOCOL),
        (b'H{"protocol": NaN}', E, PROTOCOL),
        (b'H{"protocol": 7}', E, PROTOCOL),  # another version
        (b"A", E, PROTOCOL),
        (b"A[]", E, PROTOCOL),
        (b'A{"set": "scale", "value": NaN}', E, PROTOCOL),
        (b'A{"set": "scale", "value": Infinity}', E, PROTOCOL),
        (b"A{}", E, PROTOCOL),
        (b"Z", E, PROTOCOL),
        (b"", E, PROTOCOL),
        (b"\xff" * 64, E, PROTOCOL),
        (wire.ERROR + b"{}", E, PROTOCOL),
    ]


def env_probes(running: bool) -> list[tuple[bytes, bytes, str | None]]:
    """Probes that leave an env's state as it was; outside an episode any step, whatever its body, is out of order."""
    E, STATE, PROTOCOL = wire.ERROR, wire.ERROR_STATE, wire.ERROR_PROTOCOL
    malformed_step = PROTOCOL if running else STATE
    return [
        *common_probes("scale"),
        (b"R", E, PROTOCOL),
        (b"R[]", E, PROTOCOL),
        (b'R{"seed": NaN}', E, PROTOCOL),
        (b'R{"seed": 1.5}', E, PROTOCOL),
        (wire.IMAGE, E, STATE),  # no rgb_array
        (wire.WINDOW, E, STATE),  # no window
        (wire.encode_item_request(0, 0, {}), E, STATE),  # not a generator
        (b"G", E, STATE),
        (step(0)[:-1], E, malformed_step),
        (step(0) + bytes(HUGE), E, malformed_step),
        (b"S", E, malformed_step),
        (step(7), E, malformed_step),  # outside the action space
    ]


def test_an_env_answers_every_message_in_every_state_as_the_protocol_says() -> None:
    env = blendgym.BlenderEnv(FAULTY_ENV)
    try:
        exchange = exchanger(env.process.lane)
        E = wire.ERROR
        # Before any reset: a step is out of order.
        for frame, opcode, kind in env_probes(running=False):
            expect(exchange, frame, opcode, kind)
        expect(exchange, step(0), E, wire.ERROR_STATE)  # still before any reset: nothing above changed it
        # Running.
        expect(exchange, wire.encode_reset(4, None), wire.RESET)
        for frame, opcode, kind in env_probes(running=True):
            expect(exchange, frame, opcode, kind)
        expect(exchange, step(0), wire.STEP)  # still running
        # After an env error (action 1 raises inside Blender): steps are refused until a reset.
        expect(exchange, step(1), E, wire.ERROR_ENV)
        for frame, opcode, kind in env_probes(running=False):
            expect(exchange, frame, opcode, kind)
        expect(exchange, step(0), E, wire.ERROR_STATE)
        expect(exchange, wire.encode_reset(4, {"height": "tall"}), E, wire.ERROR_ENV)  # Faulty cannot start there
        expect(exchange, wire.encode_reset(4, None), wire.RESET)
        expect(exchange, step(0), wire.STEP)
        assert process_alive(env.process.process.pid)
        # The host's own channel works as before: the same episode as a fresh env's.
        first, _ = env.reset(seed=4)
        fresh = blendgym.BlenderEnv(FAULTY_ENV)
        try:
            np.testing.assert_array_equal(fresh.reset(seed=4)[0], first)
            np.testing.assert_array_equal(fresh.step(0)[0], env.step(0)[0])
        finally:
            fresh.close()
    finally:
        env.close()


def test_a_generator_answers_every_message_as_the_protocol_says() -> None:
    stream = iter(BlenderDataset("blendgym/Shapes-v0", num_items=1, seed=0, outputs=("rgb", "boxes"), width=32, height=24))
    reference = next(stream)  # its process is idle now, its pool still open
    try:
        exchange = exchanger(stream.pool.processes[0].lane)
        E, STATE, PROTOCOL = wire.ERROR, wire.ERROR_STATE, wire.ERROR_PROTOCOL
        probes = [
            *common_probes("max_objects"),
            (wire.encode_reset(0, None), E, STATE),
            (b"R[]", E, STATE),
            (step(0), E, STATE),
            (wire.IMAGE, E, STATE),
            (wire.WINDOW, E, STATE),
            (b"G", E, PROTOCOL),
            (b"G[]", E, PROTOCOL),
            (b'G{"index": -1, "seed": 0}', E, PROTOCOL),
            (b'G{"index": 0, "seed": NaN}', E, PROTOCOL),
            (b'G{"index": 0, "seed": 0, "next": "x"}', E, PROTOCOL),
            (wire.encode_attribute({"set": "max_objects", "value": 99}), E, wire.ERROR_ATTRIBUTE),  # out of its range
            (wire.encode_item_request(0, 0, {"no_such_parameter": 1}), E, wire.ERROR_ENV),
            (wire.encode_item_request(0, 0, {"max_objects": 99}), E, wire.ERROR_ENV),
        ]
        for frame, opcode, kind in probes:
            expect(exchange, frame, opcode, kind)
        # Items come out as before: the same as the stream's, with a planned next one and without.
        for following in (1, None, None):
            labels, arrays = wire.decode_item_reply(expect(exchange, wire.encode_item_request(0, 0, {}, following), wire.ITEM))
            assert labels["objects"] == reference["objects"]
            np.testing.assert_array_equal(arrays["rgb"], reference["rgb"])
    finally:
        stream.close()
