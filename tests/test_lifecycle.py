"""No orphans: Blender processes end with close(), garbage collection, interpreter exit, Ctrl-C, SIGTERM,
and within 5 s of their host being killed with SIGKILL."""

from __future__ import annotations

import gc
import json
import os
import signal
import subprocess
import sys
import time

import gymnasium
import pytest

import blendgym
from conftest import process_alive

# A host that starts an env, prints its Blender's pid, then trains on random actions until stopped.
HOST = """
import json, sys, gymnasium, blendgym
env = gymnasium.make("blendgym/CartPole-v0", **json.loads(sys.argv[2]))
env.reset(seed=0)
print(env.unwrapped.process.process.pid, env.unwrapped.process.directory, flush=True)
if sys.argv[1] == "exit":
    raise SystemExit(0)
while True:
    _, _, terminated, truncated, _ = env.step(env.action_space.sample())
    if terminated or truncated:
        env.reset()
"""


def start_host(mode: str, **make_kwargs: object) -> tuple[subprocess.Popen[str], int, str]:
    """A host process running HOST; ``make_kwargs`` go to its ``gymnasium.make``."""
    host = subprocess.Popen([sys.executable, "-c", HOST, mode, json.dumps(make_kwargs)], stdout=subprocess.PIPE, text=True)
    assert host.stdout is not None
    pid, directory = host.stdout.readline().split()
    return host, int(pid), directory


def wait_gone(pid: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not process_alive(pid):
            return True
        time.sleep(0.05)
    return not process_alive(pid)


@pytest.mark.parametrize("signum", [signal.SIGKILL, signal.SIGTERM, signal.SIGINT])
def test_a_signalled_host_leaves_no_blender(signum: int) -> None:
    host, blender, directory = start_host("loop")
    time.sleep(0.5)  # mid-training
    host.send_signal(signum)
    host.wait(10)
    assert wait_gone(blender, 5.0), f"Blender pid {blender} outlived its host killed by {signal.Signals(signum).name}"
    assert not os.path.exists(directory)
    if signum == signal.SIGTERM:
        assert host.returncode == -signal.SIGTERM  # the handler re-raised the default action


def test_interpreter_exit_without_close_leaves_no_blender() -> None:
    host, blender, directory = start_host("exit")
    assert host.wait(10) == 0
    assert wait_gone(blender, 5.0) and not os.path.exists(directory)


def test_garbage_collection_ends_the_process() -> None:
    env = gymnasium.make("blendgym/CartPole-v0")
    pid = env.unwrapped.process.process.pid
    directory = env.unwrapped.process.directory
    del env
    gc.collect()
    assert wait_gone(pid, 5.0) and not os.path.exists(directory)


def test_close_restores_the_calling_threads_cpu_affinity() -> None:
    before = os.sched_getaffinity(0)
    env = blendgym.BlenderEnv("blendgym_envs.cartpole:CartPole")
    try:
        pinned = os.sched_getaffinity(0)
        blender = env.process.process.pid
        if len(before) > 1:
            assert len(pinned) == 1 and os.sched_getaffinity(blender) == pinned
    finally:
        env.close()
    assert os.sched_getaffinity(0) == before
    unpinned = blendgym.BlenderEnv("blendgym_envs.cartpole:CartPole", cpu_affinity=None)
    try:
        assert os.sched_getaffinity(unpinned.process.process.pid) == before
    finally:
        unpinned.close()
