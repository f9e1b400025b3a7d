"""No orphans: Blender processes end with close(), garbage collection, interpreter exit, Ctrl-C, SIGTERM,
and within 5 s of their host being killed with SIGKILL."""

from __future__ import annotations

import gc
import json
import os
import signal
import subprocess
import sys
import threading
import time
import warnings
from pathlib import Path

import gymnasium
import numpy as np
import pytest

import blendgym
from blendgym import affinity

from conftest import FAULTY_ENV, process_alive

# A host that starts an env, prints its Blender's pid, then trains on random actions until stopped. Ctrl-C
# (SIGINT) raises KeyboardInterrupt in it as in a terminal, even where the test run itself was started in the
# background (nohup, `&`), whose jobs begin with SIGINT ignored and pass that on.
HOST = """
import json, signal, sys, gymnasium, blendgym
signal.signal(signal.SIGINT, signal.default_int_handler)
env = gymnasium.make("blendgym/CartPole-v0", **json.loads(sys.argv[2]))
env.reset(seed=0)
print(env.unwrapped.process.process.pid, env.unwrapped.process.directory, flush=True)
if sys.argv[1] == "exit":
    raise SystemExit(0)
steps = 0
while True:
    _, _, terminated, truncated, _ = env.step(env.action_space.sample())
    steps += 1
    if steps == 20:
        print("training", flush=True)
    if terminated or truncated:
        env.reset()
"""


def start_host(mode: str, **make_kwargs: object) -> tuple[subprocess.Popen[str], int, str]:
    """A host process running HOST; ``make_kwargs`` go to its ``gymnasium.make``. In mode "loop" it
    returns once the host has stepped its env 20 times: it is then mid-training."""
    host = subprocess.Popen([sys.executable, "-c", HOST, mode, json.dumps(make_kwargs)], stdout=subprocess.PIPE, text=True)
    assert host.stdout is not None
    pid, directory = host.stdout.readline().split()
    if mode == "loop":
        assert host.stdout.readline() == "training\n"
    return host, int(pid), directory


def leftovers(pid: int, directory: str, seconds: float = 5.0) -> list[str]:
    """What remains of Blender ``pid`` and its private ``directory`` after waiting up to ``seconds``: the
    process may be gone (parent-death signal) a moment before the janitor has removed the directory."""
    deadline = time.monotonic() + seconds
    while True:
        remaining = [f"Blender pid {pid}"] * process_alive(pid) + [directory] * os.path.exists(directory)
        if not remaining or time.monotonic() >= deadline:
            return remaining
        time.sleep(0.05)


@pytest.mark.parametrize("signum", [signal.SIGKILL, signal.SIGTERM, signal.SIGINT])
def test_a_signalled_host_leaves_no_blender(signum: int) -> None:
    host, blender, directory = start_host("loop")  # mid-training
    host.send_signal(signum)
    host.wait(10)
    assert leftovers(blender, directory) == [], f"outlived its host killed by {signal.Signals(signum).name}"
    if signum == signal.SIGTERM:
        assert host.returncode == -signal.SIGTERM  # the handler re-raised the default action


def test_sigterm_while_the_host_reads_its_lane_ends_blender_and_the_host() -> None:
    # SIGTERM may land while the host copies a reply out of its lane, the lane's memory exported to a view.
    script = """
import os, signal, gymnasium, blendgym
env = gymnasium.make("blendgym/CartPole-v0")
env.reset(seed=0)
process = env.unwrapped.process
print(process.process.pid, process.directory, flush=True)
reading = memoryview(process.lane.data)  # what Lane._read holds while it copies
os.kill(os.getpid(), signal.SIGTERM)
"""
    host = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    output, errors = host.communicate(timeout=60)
    pid, directory = output.split()
    assert host.returncode == -signal.SIGTERM, errors
    assert leftovers(int(pid), directory) == []


def test_a_host_killed_mid_step_leaves_no_blender_and_no_directory(tmp_path: Path) -> None:
    # The Blender is inside a step that never ends (Faulty's action 3), so it never looks at its host again.
    script = f"""
import blendgym
env = blendgym.BlenderEnv({FAULTY_ENV!r}, timeout=None, signal_dir={str(tmp_path)!r})
env.reset(seed=0)
print(env.process.process.pid, env.process.directory, flush=True)
env.step(3)
"""
    host = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert host.stdout is not None
    pid, directory = host.stdout.readline().split()
    hanging = tmp_path / "hanging"
    for _ in range(12_000):  # Faulty touches the file once inside the step (a guard of 120 s)
        if hanging.exists():
            break
        time.sleep(0.01)
    assert hanging.exists() and process_alive(int(pid))
    host.kill()
    host.wait(10)
    assert leftovers(int(pid), directory) == [], "outlived its host killed with SIGKILL mid-step"


def test_interpreter_exit_without_close_leaves_no_blender() -> None:
    host, blender, directory = start_host("exit")
    assert host.wait(10) == 0
    assert leftovers(blender, directory) == []


def test_garbage_collection_ends_the_process() -> None:
    env = gymnasium.make("blendgym/CartPole-v0")
    pid = env.unwrapped.process.process.pid
    directory = env.unwrapped.process.directory
    del env
    gc.collect()
    assert leftovers(pid, directory) == []


def test_the_calling_threads_affinity_and_torchs_threads_stay_as_they_were_while_envs_are_open() -> None:
    try:
        import torch
    except ImportError:
        pytest.fail("this test needs torch, which the test install brings: `pip install -e .[train,test]`")
    before, threads = os.sched_getaffinity(0), torch.get_num_threads()
    if len(before) < 2:
        pytest.fail(f"this test needs at least 2 usable CPUs; this thread may use {sorted(before)}")

    def affinity_of_a_new_thread() -> set[int]:
        seen: list[set[int]] = []
        thread = threading.Thread(target=lambda: seen.append(os.sched_getaffinity(0)))
        thread.start()
        thread.join()
        return seen[0]

    env = blendgym.BlenderEnv("blendgym_envs.cartpole:CartPole")
    pool = gymnasium.make_vec("blendgym/CartPole-v0", num_envs=2, vectorization_mode="vector_entry_point")
    try:
        env.reset(seed=0)
        env.step(0)
        pool.reset(seed=0)
        pool.step(np.array([0, 1]))
        assert os.sched_getaffinity(0) == before and torch.get_num_threads() == threads
        assert affinity_of_a_new_thread() == before
        # Placing is for the Blender processes blendgym starts: each is on one core.
        assert len(os.sched_getaffinity(env.process.process.pid)) == 1
    finally:
        pool.close()
        env.close()
    assert os.sched_getaffinity(0) == before and torch.get_num_threads() == threads
    unplaced = blendgym.BlenderEnv("blendgym_envs.cartpole:CartPole", cpu_affinity=None)
    try:
        assert os.sched_getaffinity(unplaced.process.process.pid) == before
    finally:
        unplaced.close()


def test_a_blender_placed_on_one_core_runs_no_worker_threads_of_blenders_task_scheduler() -> None:
    # oneTBB sizes its pool from the cores Blender starts with; a worker thread would spin-wait after every
    # parallel task, on a core the trainer needs (docs/benchmarks.md, "Training").
    if len(os.sched_getaffinity(0)) < 2:
        pytest.fail(f"this test needs at least 2 usable CPUs; this thread may use {sorted(os.sched_getaffinity(0))}")
    threads = {}
    for placement in ("auto", None):
        env = gymnasium.make("blendgym/CartPole-v0", cpu_affinity=placement)
        try:
            env.reset(seed=0)
            for _ in range(50):
                env.step(0)
            threads[placement] = len(os.listdir(f"/proc/{env.unwrapped.process.process.pid}/task"))
        finally:
            env.close()
    assert threads["auto"] < threads[None]


def test_one_warning_when_torchs_threads_and_the_blenders_outnumber_the_cores_and_none_otherwise(monkeypatch: pytest.MonkeyPatch) -> None:
    try:
        import torch
    except ImportError:
        pytest.fail("this test needs torch, which the test install brings: `pip install -e .[train,test]`")
    cores = len(os.sched_getaffinity(0))
    threads = torch.get_num_threads()
    monkeypatch.setattr(affinity, "_warned", False)
    try:
        torch.set_num_threads(2)
        with pytest.warns(blendgym.BlendgymPerformanceWarning, match=r"torch.set_num_threads\(1\)") as caught:
            affinity.warn_once_if_torch_crowds_the_cores(cores, "me/Env-v0")
        assert "me/Env-v0" in str(caught[0].message) and torch.get_num_threads() == 2
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            affinity.warn_once_if_torch_crowds_the_cores(cores, "me/Env-v0")  # once only
            monkeypatch.setattr(affinity, "_warned", False)
            torch.set_num_threads(1)
            affinity.warn_once_if_torch_crowds_the_cores(cores, "me/Env-v0")  # one torch thread: nothing to say
    finally:
        torch.set_num_threads(threads)
