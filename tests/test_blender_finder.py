"""Which Blender is chosen, and the errors for a missing or too old one."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

import blendgym


def fake_blender(tmp_path: Path, version_line: str) -> str:
    """A stand-in executable that only answers --version, to test version parsing without a real Blender."""
    path = tmp_path / "blender"
    path.write_text(f"#!/bin/sh\necho '{version_line}'\n")
    path.chmod(0o755)
    return str(path)


def test_the_embedded_bpy_module_is_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BLENDGYM_BLENDER", raising=False)
    blender = blendgym.find_blender()
    assert blender.embedded and blender.program == sys.executable and blender.version[:2] == (4, 5)
    assert blendgym.find_blender("embedded") == blender


def test_an_executable_is_chosen_by_argument_or_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = fake_blender(tmp_path, "Blender 4.2.1 LTS")
    assert blendgym.find_blender(path).version == (4, 2, 1)
    monkeypatch.setenv("BLENDGYM_BLENDER", path)
    assert blendgym.find_blender() == blendgym.Blender(path, False, (4, 2, 1))


def test_too_old_or_not_blender_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "old").mkdir()
    (tmp_path / "other").mkdir()
    with pytest.raises(blendgym.BlenderNotFoundError, match="older than 3.4"):
        blendgym.find_blender(fake_blender(tmp_path / "old", "Blender 2.93.18"))
    with pytest.raises(blendgym.BlenderNotFoundError, match="does not look like Blender"):
        blendgym.find_blender(fake_blender(tmp_path / "other", "GIMP 2.10"))
