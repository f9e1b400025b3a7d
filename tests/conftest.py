"""Shared fixtures. Tests that involve Blender start real Blender processes: the bpy module, and Debian's
``blender`` executable for the tests marked ``executable``."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
# Screenshots that the live-viewing tests keep for people to look at (not in git).
ARTIFACTS = TESTS.parent / "test-artifacts"
FAULTY_ENV = f"{TESTS / 'envs' / 'faulty.py'}:Faulty"


@pytest.fixture(scope="session")
def blender_executable() -> str:
    """A Blender executable; a missing one fails the test with what to install, it is never skipped."""
    path = os.environ.get("BLENDGYM_TEST_BLENDER") or shutil.which("blender")
    if path is None:
        pytest.fail("these tests need a Blender executable: `apt-get install blender` (Debian's 3.4), or set BLENDGYM_TEST_BLENDER")
    return path


def process_alive(pid: int) -> bool:
    """True while ``pid`` runs (a zombie, exited but not yet reaped, counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rpartition(")")[2].split()[0] != "Z"
    except FileNotFoundError:
        return False


@pytest.fixture(scope="session")
def display() -> Iterator[str]:
    """A virtual X display (Xvfb) for Blender windows, set as $DISPLAY for the whole session."""
    if shutil.which("Xvfb") is None:
        pytest.fail("the live-viewing tests need a virtual display: `apt-get install xvfb`")
    read_end, write_end = os.pipe()
    server = subprocess.Popen(
        ["Xvfb", "-displayfd", str(write_end), "-screen", "0", "1280x1024x24", "-nolisten", "tcp"],
        pass_fds=(write_end,),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    os.close(write_end)
    with os.fdopen(read_end) as numbers:
        number = numbers.readline().strip()
    if not number:
        server.kill()
        pytest.fail("Xvfb did not start")
    previous = os.environ.get("DISPLAY")
    os.environ["DISPLAY"] = f":{number}"
    yield os.environ["DISPLAY"]
    if previous is None:
        del os.environ["DISPLAY"]
    else:
        os.environ["DISPLAY"] = previous
    server.terminate()
    server.wait(10)
