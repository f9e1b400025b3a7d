"""``blendgym doctor``, run as users run it: the console script from this environment."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

DOCTOR = str(Path(sys.executable).parent / "blendgym")


def test_doctor_steps_an_env_with_the_embedded_blender() -> None:
    result = subprocess.run([DOCTOR, "doctor"], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert re.search(r"bpy module \(the embedded Blender\): \d+\.\d+", result.stdout)
    assert "blendgym would use: Blender" in result.stdout and "All is well" in result.stdout


def test_doctor_without_any_blender_fails_and_names_the_install_command(tmp_path: Path) -> None:
    # No bpy (the module is hidden) and no `blender` on PATH.
    script = "import sys; sys.modules['bpy'] = None; sys.argv = ['blendgym', 'doctor']; from blendgym.__main__ import main; main()"
    environment = {key: value for key, value in os.environ.items() if key != "BLENDGYM_BLENDER"}
    environment["PATH"] = str(tmp_path)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, env=environment)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "bpy module (the embedded Blender): not installed" in result.stdout
    assert "PROBLEM: no Blender found" in result.stdout and "pip install 'blendgym[blender]'" in result.stdout
