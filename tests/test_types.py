"""The host side, the Blender side and the envs type-check (pyproject.toml, ``[tool.mypy]``); the whole
repository passes ruff's lint and is formatted as ``ruff format`` writes it (``[tool.ruff]``)."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import TESTS


def test_the_code_type_checks(tmp_path: Path) -> None:
    if importlib.util.find_spec("mypy") is None:
        pytest.fail("this test needs mypy: pip install -e '.[test]' (scripts/setup.sh does)")
    checked = subprocess.run(
        [sys.executable, "-m", "mypy", "--cache-dir", str(tmp_path / "cache")], cwd=TESTS.parent, capture_output=True, text=True, timeout=600
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


@pytest.mark.parametrize("command", [["check"], ["format", "--check", "--diff"]])
def test_the_code_passes_ruff(command: list[str]) -> None:
    if importlib.util.find_spec("ruff") is None:
        pytest.fail("this test needs ruff: pip install -e '.[test]' (scripts/setup.sh does)")
    checked = subprocess.run(
        [sys.executable, "-m", "ruff", *command, "--no-cache", "."], cwd=TESTS.parent, capture_output=True, text=True, timeout=300
    )
    assert checked.returncode == 0, checked.stdout[-5000:] + checked.stderr[-2000:]
