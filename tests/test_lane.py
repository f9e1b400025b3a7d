"""Lanes (docs/protocol.md, "Lanes"): the shared-memory carrier of a launched Blender's frames, first between
two plain Python processes, then under real envs and pools against the same envs over ZeroMQ."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import gymnasium
import numpy as np
import pytest
from blendgym_blender import lane as lanes
from blendgym_blender.view import ViewSettings

from blendgym.process import uses_lane

ENV_ID = "blendgym/CartPole-v0"
LANE_MODULE = Path(lanes.__file__)

# Blender's end in a plain Python process: the lane module from its file (argv[1]) and the lane that argv[2] describes.
OPEN_LANE = """
import importlib.util, sys, time
spec = importlib.util.spec_from_file_location("lane", sys.argv[1])
lane = importlib.util.module_from_spec(spec)
spec.loader.exec_module(lane)
channel = lane.Lane.open(sys.argv[2])
"""
# A stand-in for Blender's end: answers each request with its length and its bytes reversed, until b"quit".
ECHO = (
    OPEN_LANE
    + """
while True:
    if not channel.wait_request(0.001, 10.0):
        sys.exit("no request within 10 s")
    frame = channel.take_request()
    channel.put_reply(len(frame).to_bytes(8, "little") + frame[::-1])
    if frame == b"quit":
        break
"""
)

pytestmark = pytest.mark.skipif(not lanes.supported(), reason="lanes exist on Linux x86-64 only; there every frame uses ZeroMQ")


def test_frames_of_every_size_cross_a_lane_intact() -> None:
    doorbell = lanes.Doorbell()
    lane = lanes.Lane(doorbell)
    child = subprocess.Popen([sys.executable, "-c", ECHO, str(LANE_MODULE), lane.describe()], pass_fds=(lane.fd, doorbell.fd))
    try:
        rng = np.random.default_rng(0)
        # Past the 64 KiB the lane starts with: requests grow it here, the longer replies grow it in the child.
        for size in [0, 1, 100, lanes.INITIAL_CAPACITY - 8, lanes.INITIAL_CAPACITY, 3 * lanes.INITIAL_CAPACITY, 17, 5_000_000, 9]:
            frame = rng.integers(0, 256, size, dtype=np.uint8).tobytes()
            lane.put_request(frame)
            assert lane.wait_reply(0.0, 10.0), f"no reply to a {size}-byte frame"
            assert lane.take_reply() == size.to_bytes(8, "little") + frame[::-1]
        lane.put_request(b"quit")
        assert lane.wait_reply(0.0, 10.0)
        assert child.wait(10) == 0
    finally:
        child.kill()
        lane.close()
        doorbell.close()


# Writes two tickets that differ in every byte into the lane's request ticket, one after the other, for a second.
FLIP = (
    OPEN_LANE
    + """
end = time.perf_counter() + 1.0
while time.perf_counter() < end:
    for _ in range(1000):
        channel.set_word(lane.REQUEST_TICKET, 0x00FF00FF)
        channel.set_word(lane.REQUEST_TICKET, 0xFF00FF00)
"""
)


def test_a_ticket_is_never_seen_half_written() -> None:
    # Blender takes the ticket it sees as the request's: a half-written one (struct moves a byte at a time)
    # made it answer its own reply as the next request ("bad JSON") once in ~10^5 steps of a pool.
    doorbell = lanes.Doorbell()
    lane = lanes.Lane(doorbell)
    lane.set_word(lanes.REQUEST_TICKET, 0x00FF00FF)
    child = subprocess.Popen([sys.executable, "-c", FLIP, str(LANE_MODULE), lane.describe()], pass_fds=(lane.fd, doorbell.fd))
    try:
        seen: dict[int, int] = {}
        while child.poll() is None:
            for _ in range(1000):
                ticket = lane.word(lanes.REQUEST_TICKET)
                seen[ticket] = seen.get(ticket, 0) + 1
        assert child.returncode == 0
        torn = {f"{ticket:#010x}": count for ticket, count in seen.items() if ticket not in (0x00FF00FF, 0xFF00FF00)}
        assert not torn, f"tickets seen half written: {torn}"
        assert seen.get(0xFF00FF00, 0) > 100, f"the writer's tickets were hardly seen ({seen}): the test raced nothing"
    finally:
        child.kill()
        lane.close()
        doorbell.close()


def test_a_side_whose_map_is_stale_never_shrinks_the_lane_under_the_other() -> None:
    doorbell = lanes.Doorbell()
    lane = lanes.Lane(doorbell)
    blender_end = lanes.Lane(doorbell, os.dup(lane.fd), lane.tag)  # maps the lane as it is now: 64 KiB of data
    try:
        lane.put_request(bytes(1_000_000))  # the host grows the file to hold a 1 MB request
        grown = os.fstat(lane.fd).st_size
        # Written before this end has read (and so remapped) anything: longer than its stale map, shorter than the file.
        blender_end.put_reply(b"x" * (lanes.INITIAL_CAPACITY + 1))
        assert os.fstat(lane.fd).st_size == grown
        assert lane.take_reply() == b"x" * (lanes.INITIAL_CAPACITY + 1)
        lane.put_request(b"y" * 900_000)  # the host's map is still whole
        assert blender_end.take_request() == b"y" * 900_000
    finally:
        blender_end.close()
        lane.close()
        doorbell.close()


def test_a_futex_call_the_kernel_refuses_is_an_error_not_a_silent_busy_wait() -> None:
    with pytest.raises(OSError, match="futex wait on a lane failed"):
        lanes._futex_wait(0, 0, 0.01)  # no memory at address 0: EFAULT
    with pytest.raises(OSError, match="futex wake on a lane failed"):
        lanes._futex_wake(1)  # a futex word must be 4-byte aligned: EINVAL


def test_a_descriptor_that_is_not_the_hosts_lane_is_refused() -> None:
    doorbell = lanes.Doorbell()
    lane, other = lanes.Lane(doorbell), lanes.Lane(doorbell)
    try:
        # Blender owns (and closes) the descriptors it opens: give it copies, as inheriting them would.
        other_fd, doorbell_fd = os.dup(other.fd), os.dup(doorbell.fd)
        swapped = f"{other_fd}:{lane.tag:x},{doorbell_fd}:{doorbell.tag:x}"
        with pytest.raises(ValueError, match=f"descriptor {other_fd} is not the blendgym-lane the host made"):
            lanes.Lane.open(swapped)
        assert lanes.Doorbell().next_ticket() == 1 and [doorbell.next_ticket() for _ in range(2)] == [1, 2]
    finally:
        for shared in (lane, other, doorbell):
            shared.close()


def test_transport_is_checked() -> None:
    assert uses_lane("auto", ViewSettings()) and not uses_lane("zmq", ViewSettings())
    assert not uses_lane("auto", ViewSettings(human=True))
    with pytest.raises(ValueError, match="serves Blenders without a window"):
        uses_lane("lane", ViewSettings(human=True))
    with pytest.raises(ValueError, match="transport='pigeon': use one of auto, lane, zmq"):
        gymnasium.make(ENV_ID, transport="pigeon")


def test_an_env_on_a_lane_matches_the_same_env_over_zeromq() -> None:
    """Same seed, same actions: the same observations, rewards, flags and 640x480 images either way."""
    runs = []
    for transport in ("lane", "zmq"):
        env = gymnasium.make(ENV_ID, transport=transport, render_mode="rgb_array")
        try:
            observation, _ = env.reset(seed=3)
            assert env.unwrapped.process.on_lane == (transport == "lane")
            actions = np.random.default_rng(3).integers(0, 2, 300)
            trajectory = [observation]
            for action in actions:
                observation, reward, terminated, truncated, _ = env.step(int(action))
                trajectory.append(np.append(observation, [reward, terminated, truncated]))
                if terminated or truncated:
                    trajectory.append(env.reset()[0])
            runs.append((np.concatenate(trajectory), env.render()))
        finally:
            env.close()
    (lane_steps, lane_image), (socket_steps, socket_image) = runs
    assert lane_image.shape == (480, 640, 3) and lane_image.std() > 0
    np.testing.assert_array_equal(lane_steps, socket_steps)
    np.testing.assert_array_equal(lane_image, socket_image)


def test_a_spinner_spins_about_as_long_as_recent_waits_and_not_at_all_while_the_other_side_is_busy() -> None:
    spinner = lanes.Spinner(200e-6)
    for _ in range(lanes.RECENT_WAITS):
        spinner.record(50e-6)
    assert spinner.budget() == pytest.approx(100e-6)
    spinner.record(2.0)  # one policy update among quick steps does not stop the spinning
    assert spinner.budget() == pytest.approx(100e-6)
    for _ in range(lanes.RECENT_WAITS // 2 + 1):
        spinner.record(500e-6)  # the other side now computes for longer than spinning pays: sleep at once
    assert spinner.budget() == 0.0
    for _ in range(lanes.RECENT_WAITS // 2 + 1):
        spinner.record(1e-6)  # quick again: spin again, at least SPIN_FLOOR
    assert spinner.budget() == lanes.SPIN_FLOOR
    never = lanes.Spinner(0.0)
    never.record(1e-6)
    assert never.budget() == 0.0


def test_lanes_spin_only_where_the_processes_leave_a_core_to_spare() -> None:
    cores = len(os.sched_getaffinity(0))
    if cores < 2:
        pytest.fail(f"this test needs at least 2 usable CPUs; this thread may use {sorted(os.sched_getaffinity(0))}")
    for num_envs, limit in ((cores - 1, lanes.SPIN_LIMIT), (cores, 0.0)):
        envs = gymnasium.make_vec(ENV_ID, num_envs=num_envs, vectorization_mode="vector_entry_point")
        try:
            pool = envs.unwrapped._pool
            assert pool.spin_limit == limit
            for process in pool.processes:
                assert process.on_lane and process.transport.spinner.limit == limit
                command = process.process.args
                assert float(command[command.index("--lane-spin-limit") + 1]) == limit
            envs.reset(seed=0)
            envs.step(np.zeros(num_envs, dtype=np.int64))
        finally:
            envs.close()


def test_a_pools_processes_are_dealt_over_the_cores_and_a_second_pool_likewise() -> None:
    if len(os.sched_getaffinity(0)) < 2:
        pytest.fail(f"this test needs at least 2 usable CPUs; this thread may use {sorted(os.sched_getaffinity(0))}")
    first = gymnasium.make_vec(ENV_ID, num_envs=2, vectorization_mode="vector_entry_point")
    try:
        second = gymnasium.make_vec(ENV_ID, num_envs=2, vectorization_mode="vector_entry_point")
        try:
            for envs in (first, second):
                cores = [os.sched_getaffinity(process.process.pid) for process in envs.unwrapped._pool.processes]
                assert all(len(core) == 1 for core in cores) and cores[0] != cores[1]
        finally:
            second.close()
    finally:
        first.close()
