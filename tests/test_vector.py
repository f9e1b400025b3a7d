"""BlenderVectorEnv: a pool of real Blender processes against gymnasium's SyncVectorEnv, async stepping,
attributes, and what happens when a process dies, hangs or raises."""

from __future__ import annotations

import gc
import os
import signal
import time
from pathlib import Path
from typing import Any

import gymnasium
import numpy as np
import pytest
from gymnasium.vector import AutoresetMode

import blendgym
from blendgym.errors import BlenderAttributeError, BlenderCallError, BlenderEnvError, BlenderRestartLimitError
from blendgym.process import private_prefix
from blendgym.vector import BlenderVectorEnv

from conftest import FAULTY_ENV, process_alive

# The pool's mechanics are the host's: the main suite runs them, the other bpy releases' stages leave them out.
pytestmark = pytest.mark.host

ENV_ID = "blendgym/CartPole-v0"


def make_pool(num_envs: int = 2, **kwargs: Any) -> BlenderVectorEnv:
    envs = gymnasium.make_vec(ENV_ID, num_envs=num_envs, vectorization_mode="vector_entry_point", **kwargs)
    assert isinstance(envs, BlenderVectorEnv)
    return envs


def wait_gone(pids: list[int], seconds: float = 10.0) -> list[int]:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and any(process_alive(pid) for pid in pids):
        time.sleep(0.05)
    return [pid for pid in pids if process_alive(pid)]


@pytest.mark.parametrize("mode", [AutoresetMode.NEXT_STEP, AutoresetMode.SAME_STEP])
def test_make_vec_matches_sync_vector_env_over_single_envs(mode: AutoresetMode) -> None:
    # A short time limit makes episodes end both ways: terminated (pole falls) and truncated (time limit).
    pool = make_pool(2, autoreset_mode=mode, max_episode_steps=20)
    sync = gymnasium.make_vec(ENV_ID, num_envs=2, vectorization_mode="sync", vector_kwargs={"autoreset_mode": mode}, max_episode_steps=20)
    try:
        assert pool.metadata["autoreset_mode"] == sync.metadata["autoreset_mode"] == mode
        assert pool.observation_space == sync.observation_space and pool.action_space == sync.action_space
        pool_obs, pool_info = pool.reset(seed=11)
        sync_obs, sync_info = sync.reset(seed=11)
        np.testing.assert_array_equal(pool_obs, sync_obs)
        assert pool_info == sync_info == {}
        actions = np.random.default_rng(3).integers(0, 2, (80, 2))
        ends = {"terminated": 0, "truncated": 0}
        for action in actions:
            pool_step = pool.step(action)
            sync_step = sync.step(action)
            for pool_part, sync_part in zip(pool_step[:4], sync_step[:4], strict=True):
                np.testing.assert_array_equal(pool_part, sync_part)
            assert pool_step[1].dtype == sync_step[1].dtype and pool_step[2].dtype == sync_step[2].dtype
            assert pool_step[4].keys() == sync_step[4].keys()
            if mode == AutoresetMode.SAME_STEP and "final_obs" in sync_step[4]:
                np.testing.assert_array_equal(pool_step[4]["_final_obs"], sync_step[4]["_final_obs"])
                for pool_final, sync_final in zip(pool_step[4]["final_obs"], sync_step[4]["final_obs"], strict=True):
                    np.testing.assert_array_equal(pool_final, sync_final)
            ends["terminated"] += int(pool_step[2].sum())
            ends["truncated"] += int(pool_step[3].sum())
        assert ends["terminated"] > 0 and ends["truncated"] > 0, ends
    finally:
        pool.close()
        sync.close()


def test_reset_seeds_options_and_mask() -> None:
    envs = make_pool(2)
    try:
        first, _ = envs.reset(seed=5)
        again, _ = envs.reset(seed=[5, 6])
        np.testing.assert_array_equal(first, again)
        assert not np.array_equal(first[0], first[1])  # env i is seeded with seed + i
        state = [0.1, -0.2, 0.05, 0.3]
        posed, _ = envs.reset(options={"state": state})
        np.testing.assert_allclose(posed, [state, state], atol=5e-3)
        envs.step(np.array([0, 0]))
        masked, _ = envs.reset(seed=5, options={"reset_mask": np.array([True, False])})
        np.testing.assert_array_equal(masked[0], first[0])
        assert not np.allclose(masked[1], state, atol=5e-3)  # env 1 went on from its step
        with pytest.raises(blendgym.BlenderEnvValueError, match="unknown"):
            envs.reset(options={"no_such_option": 1})
    finally:
        envs.close()


def test_bad_actions_are_refused_before_anything_is_sent() -> None:
    envs = make_pool(2)
    try:
        envs.reset(seed=0)
        before = envs.step(np.array([0, 1]))[0]
        for bad, match in [(np.array([0, 2]), r"\[1\].*outside"), (np.array([0.5, 1.0]), "integer"), (np.array([0, 1, 1]), "3 actions")]:
            with pytest.raises(ValueError, match=match):
                envs.step(bad)
        after = envs.step(np.array([0, 1]))[0]  # the same episodes go on: nothing was sent
        assert not np.array_equal(before, after)
    finally:
        envs.close()


@pytest.mark.parametrize("transport", ["auto", "zmq"])
def test_send_recv_returns_the_envs_that_are_ready_first(transport: str, tmp_path: Path) -> None:
    envs = BlenderVectorEnv(FAULTY_ENV, 2, batch_size=1, transport=transport, signal_dir=str(tmp_path))
    try:
        assert [process.on_lane for process in envs._pool.processes] == [transport == "auto"] * 2
        envs.reset(seed=0)
        envs.send(np.array([4, 0]))  # env 0 waits for its release file, env 1 answers at once
        _, _, _, _, info = envs.recv()
        assert info["env_id"].tolist() == [1]
        envs.send(np.array([0]), env_ids=[1])
        assert envs.recv()[4]["env_id"].tolist() == [1]
        (tmp_path / "release").touch()
        observations, rewards, _, _, info = envs.recv()
        assert info["env_id"].tolist() == [0] and observations.shape == (1, 1) and rewards.shape == (1,)
        with pytest.raises(BlenderEnvError, match="waiting for 1 sub-envs but only 0"):
            envs.recv()
    finally:
        envs.close()


def test_processes_start_in_parallel(tmp_path: Path) -> None:
    # Each build waits until all three builders have announced themselves: builds started one after another
    # could never finish, whatever the machine's load.
    envs = BlenderVectorEnv(FAULTY_ENV, 3, builders=3, signal_dir=str(tmp_path), startup_timeout=300)
    try:
        assert len(list(tmp_path.glob("builder-*"))) == 3
        envs.reset(seed=0)
    finally:
        envs.close()


def test_attributes_reach_the_blender_side_envs() -> None:
    envs = BlenderVectorEnv(FAULTY_ENV, 2)
    try:
        envs.reset(seed=0)
        assert envs.get_attr("scale") == (1.0, 1.0)
        envs.set_attr("scale", [2.0, 3])
        assert envs.get_attr("scale") == (2.0, 3)
        heights = envs.call("height", times=0.5)
        assert heights[0] == pytest.approx(envs.call("height")[0] * 0.5)
        assert envs.call("scale") == (2.0, 3)  # gymnasium's call returns a data attribute's value
        assert envs.get_attr("render_mode") == (None, None)
        assert envs.get_attr("action_space") == (gymnasium.spaces.Discrete(5),) * 2
        with pytest.raises(BlenderAttributeError, match="'nope' is not offered remotely"):
            envs.get_attr("nope")
        with pytest.raises(BlenderAttributeError, match="not a method marked"):
            envs.call("not_remote")
        with pytest.raises(BlenderAttributeError, match="'_private' is not offered remotely"):
            envs.get_attr("_private")
        with pytest.raises(BlenderAttributeError, match="'ball' is not offered remotely"):
            envs.set_attr("ball", 1)
        with pytest.raises(BlenderCallError, match="TypeError"):
            envs.set_attr("scale", "big")
        envs.step(np.array([0, 0]))  # the episodes go on after refused requests
    finally:
        envs.close()


@pytest.mark.parametrize("mode", [AutoresetMode.NEXT_STEP, AutoresetMode.SAME_STEP])
def test_a_killed_process_is_restarted_and_its_episode_truncated(mode: AutoresetMode) -> None:
    envs = make_pool(2, autoreset_mode=mode)
    try:
        envs.reset(seed=1)
        state = [0.0, 0.0, 0.0, 0.0]
        envs.reset(options={"state": state})
        observations = envs.step(np.array([0, 1]))[0]
        victim = envs.pids[1]
        os.kill(victim, signal.SIGKILL)
        observations, rewards, terminated, truncated, info = envs.step(np.array([0, 1]))
        assert truncated.tolist() == [False, True] and terminated.tolist() == [False, False] and rewards[1] == 0.0
        if mode == AutoresetMode.NEXT_STEP:
            assert info["_blender_restart"].tolist() == [False, True]
            assert "killed by signal 9 during step" in info["blender_restart"][1]
            observations, rewards, _, _, _ = envs.step(np.array([0, 1]))  # env 1 autoresets in the new process
            assert rewards.tolist() == [1.0, 0.0]
        else:
            assert "killed by signal 9" in info["final_info"]["blender_restart"][1]
            assert info["_final_obs"].tolist() == [False, True]
        assert envs.pids[1] != victim and wait_gone([victim]) == []
        assert abs(observations[1][0]) < 0.06 and abs(observations[1][2]) < 0.06  # a fresh episode
        assert abs(observations[0][2]) > 1e-4  # env 0 went on with its episode
        for _ in range(5):
            _, rewards, _, truncated, _ = envs.step(np.array([0, 1]))
            assert rewards.tolist() == [1.0, 1.0]
    finally:
        pids = envs.pids
        envs.close()
    assert wait_gone(pids) == []


def test_a_process_killed_between_episodes_is_restarted_by_the_autoreset() -> None:
    envs = make_pool(2)
    try:
        envs.reset(seed=1, options={"state": [0.0, 0.0, 0.5, 0.0]})  # past the angle limit: ends at once
        _, _, terminated, _, _ = envs.step(np.array([0, 1]))
        assert terminated.tolist() == [True, True]
        victim = envs.pids[1]
        os.kill(victim, signal.SIGKILL)
        observations, rewards, terminated, truncated, info = envs.step(np.array([0, 1]))  # both autoreset
        assert rewards.tolist() == [0.0, 0.0] and not terminated.any() and not truncated.any()
        assert info["_blender_restart"].tolist() == [False, True]
        assert "killed by signal 9 during reset" in info["blender_restart"][1]
        assert abs(observations[1][2]) < 0.06 and envs.pids[1] != victim and wait_gone([victim]) == []
        _, rewards, _, _, _ = envs.step(np.array([0, 1]))
        assert rewards.tolist() == [1.0, 1.0]
    finally:
        pids = envs.pids
        envs.close()
    assert wait_gone(pids) == []


def test_a_hung_process_is_killed_at_the_timeout_and_restarted() -> None:
    # The timeout only has to tell a hang from a step that takes a millisecond: 10 s holds on a loaded machine.
    envs = BlenderVectorEnv(FAULTY_ENV, 2, timeout=10.0)
    try:
        envs.reset(seed=0)
        hung = envs.pids[0]
        _, _, _, truncated, info = envs.step(np.array([3, 0]))
        assert truncated.tolist() == [True, False]
        assert "no reply to step within the timeout" in info["blender_restart"][0]
        assert wait_gone([hung]) == [] and envs.pids[0] != hung
        _, _, _, truncated, _ = envs.step(np.array([0, 0]))
        assert truncated.tolist() == [False, False]
    finally:
        envs.close()


def test_too_many_restarts_raise_a_clear_error_and_leave_no_process() -> None:
    envs = BlenderVectorEnv(FAULTY_ENV, 2, max_restarts=1)
    pids = list(envs.pids)
    envs.reset(seed=0)
    _, _, _, truncated, _ = envs.step(np.array([2, 0]))  # env 0's process exits: restart 1 of 1
    assert truncated.tolist() == [True, False]
    pids += envs.pids
    envs.step(np.array([0, 0]))  # env 0 autoresets
    with pytest.raises(BlenderRestartLimitError, match=r"\[0\].*failed 2 times.*max_restarts=1"):
        envs.step(np.array([2, 0]))
    assert wait_gone(pids) == []
    envs.close()


def test_an_exception_in_blender_is_raised_and_reset_recovers() -> None:
    envs = BlenderVectorEnv(FAULTY_ENV, 2)
    try:
        envs.reset(seed=0)
        pids = envs.pids
        with pytest.raises(BlenderEnvError, match=r"Faulty\.py|faulty\.py") as raised:
            envs.step(np.array([0, 1]))
        assert "[1]" in str(raised.value) and "boom from inside Blender" in str(raised.value)
        with pytest.raises(BlenderEnvError, match="call reset"):
            envs.step(np.array([0, 0]))
        envs.reset()
        envs.step(np.array([0, 0]))
        assert envs.pids == pids  # no process was restarted for an exception
    finally:
        envs.close()


def test_close_and_garbage_collection_end_every_process() -> None:
    envs = make_pool(2)
    pids = envs.pids
    envs.close()
    envs.close()
    assert wait_gone(pids) == []
    envs = make_pool(2)
    pids = envs.pids
    del envs
    gc.collect()
    assert wait_gone(pids) == []


def open_descriptors() -> int:
    return len(os.listdir("/proc/self/fd"))


def memory_entries() -> set[str]:
    """This test process's entries in /dev/shm: other programs, other test stages among them, come and go."""
    if not os.path.isdir("/dev/shm"):
        return set()
    return {name for name in os.listdir("/dev/shm") if name.startswith(private_prefix())}


@pytest.mark.slow
@pytest.mark.timeout(900)  # ~45 s on a slow 2-core machine
def test_forty_restarts_leak_no_descriptors_and_no_shared_memory() -> None:
    # The counts must come back exactly, so a leak of one descriptor or entry per restart shows after any
    # number of restarts; forty also catch one every few restarts. The long run is benchmarks/soak_pool.py.
    descriptors, entries = open_descriptors(), memory_entries()
    envs = BlenderVectorEnv("blendgym_envs.cartpole:CartPole", 2, max_restarts=1000)

    def private_directories() -> set[str]:
        return {os.path.basename(process.directory) for process in envs._pool.processes}

    try:
        envs.reset(seed=0)
        envs.step(np.array([0, 1]))
        others = memory_entries() - private_directories()
        with_pool = open_descriptors()
        for restart in range(40):
            victim = envs.pids[restart % 2]
            os.kill(victim, signal.SIGKILL)
            while envs.pids[restart % 2] == victim:
                envs.step(np.array([0, 1]))
            envs.step(np.array([0, 1]))  # through the new process's handshake
            assert wait_gone([victim]) == []
        # The killed processes' descriptors and private directories are gone; only the live two remain.
        assert open_descriptors() == with_pool
        assert memory_entries() == others | private_directories()
    finally:
        envs.close()
    assert open_descriptors() == descriptors and memory_entries() == entries
