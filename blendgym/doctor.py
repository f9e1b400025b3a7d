"""``blendgym doctor``: what blendgym would use on this machine, a one-second env smoke test, and the fix for
whatever is missing (README, "Troubleshooting")."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import platform
import shutil
import subprocess
import sys
import time
from collections.abc import Callable

from blendgym_blender import lane

from .blender import ENVIRONMENT_VARIABLE, WINDOW_HINT, Blender, find_blender
from .errors import BlendgymError

# The Python version the bpy wheels are built for.
BPY_PYTHON = (3, 11)
# Asked of a Blender executable's own Python: its version, and whether numpy and pyzmq import there.
PYTHON_PROBE = (
    "import sys\n"
    "def can(name):\n"
    "    try:\n"
    "        __import__(name)\n"
    "        return 'yes'\n"
    "    except Exception:\n"
    "        return 'no'\n"
    "print('blendgym-probe', sys.version.split()[0], can('numpy'), can('zmq'))\n"
)


def run(report: Callable[[str], None] = print) -> int:
    """Report, and return the exit status: 0 when an env stepped, 1 with the fix otherwise."""
    report(f"blendgym {importlib.metadata.version('blendgym')}, Python {platform.python_version()} ({sys.executable})")
    bpy_version = _installed("bpy")
    report(f"bpy module (the embedded Blender): {bpy_version or 'not installed'}")
    if bpy_version is None and sys.version_info[:2] != BPY_PYTHON:
        report(f"  note: the bpy wheels are built for Python {BPY_PYTHON[0]}.{BPY_PYTHON[1]}; this is Python {platform.python_version()}")
    on_path = shutil.which("blender")
    report(f"Blender executable on PATH: {on_path or 'none'}")
    if on_path is not None:
        report(f"  its Python: {_executable_python(on_path)}")
    if os.environ.get(ENVIRONMENT_VARIABLE):
        report(f"${ENVIRONMENT_VARIABLE} = {os.environ[ENVIRONMENT_VARIABLE]}")
    report(f"lanes (shared-memory frames): {'yes' if lane.supported() else 'no: Linux on x86-64 only; frames go over ZeroMQ'}")
    display = os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
    if display and on_path:
        report(f"live viewing (render_mode='human'): yes, on display {display}")
    elif not on_path:
        report(f"live viewing (render_mode='human'): no Blender executable. {WINDOW_HINT}")
    else:
        report("live viewing (render_mode='human'): no display ($DISPLAY and $WAYLAND_DISPLAY unset): run on a desktop, or under Xvfb (`xvfb-run`)")
    try:
        blender = find_blender()
    except BlendgymError as error:
        report(f"PROBLEM: {error}")
        return 1
    report(f"blendgym would use: {blender.describe()}")
    return _smoke_test(blender, report)


def _smoke_test(blender: Blender, report: Callable[[str], None]) -> int:
    import gymnasium

    import blendgym  # noqa: F401  (registers the ids)

    started = time.perf_counter()
    try:
        env = gymnasium.make("blendgym/CartPole-v0", blender=blender.program if not blender.embedded else "embedded")
        try:
            env.reset(seed=0)
            steps, stepping = 0, time.perf_counter()
            while time.perf_counter() - stepping < 1.0:
                _, _, terminated, truncated, _ = env.step(env.action_space.sample())
                steps += 1
                if terminated or truncated:
                    env.reset()
        finally:
            env.close()
    except BlendgymError as error:
        report(f"PROBLEM: the smoke test failed: {error}")
        return 1
    report(f"smoke test: blendgym/CartPole-v0 started in {stepping - started:.1f} s and stepped {steps:,} times in 1 s. All is well.")
    return 0


def _installed(distribution: str) -> str | None:
    if importlib.util.find_spec(distribution) is None:
        return None
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return "installed (version unknown)"


def _executable_python(path: str) -> str:
    try:
        result = subprocess.run(
            [path, "-b", "--factory-startup", "-noaudio", "--python-expr", PYTHON_PROBE],
            capture_output=True,
            text=True,
            timeout=120,
            stdin=subprocess.DEVNULL,
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        return f"could not ask it ({error})"
    for line in result.stdout.splitlines():
        if line.startswith("blendgym-probe "):
            version, numpy, zmq = line.split()[1:]
            return (
                f"Python {version}; numpy {numpy}, pyzmq {zmq} in its own site-packages (blendgym adds this environment's "
                "site-packages when it starts it, which works where the Python versions match)"
            )
    return "did not answer the probe"
