"""Shared fixtures. Tests that involve Blender start real Blender processes: the bpy module, and Debian's
``blender`` executable for the tests marked ``executable``."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
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
