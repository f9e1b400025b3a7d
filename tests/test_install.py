"""A real wheel: built, installed into a fresh folder, and used from another working directory."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

USE = """
import gymnasium, blendgym, blendgym_blender, blendgym_envs
env = gymnasium.make("blendgym/CartPole-v0")
observation, _ = env.reset(seed=0)
env.step(1)
env.close()
print(blendgym.__file__, blendgym_blender.__file__, blendgym_envs.__file__)
"""


@pytest.mark.slow
def test_the_wheel_ships_every_package_and_works_from_elsewhere(tmp_path: Path) -> None:
    # Built from a copy: a build writes build/ and *.egg-info next to its sources, and the checkout is the user's.
    source = tmp_path / "source"
    shutil.copytree(
        ROOT, source, ignore=shutil.ignore_patterns(".venv*", ".git", "build", "dist", "*.egg-info", "__pycache__", "runs", "test-artifacts")
    )
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp_path), str(source)], check=True)
    (wheel,) = tmp_path.glob("blendgym-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for required in ("blendgym/py.typed", "blendgym_blender/bootstrap.py", "blendgym_blender/py.typed", "blendgym_envs/cartpole.py"):
        assert required in names
    assert not any(name.startswith(("envs/", "blender_side/", "tests/")) for name in names)

    site = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(site), str(wheel)], check=True)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    # The installed copy comes first on the path, ahead of the editable checkout that runs these tests.
    environment = {**os.environ, "PYTHONPATH": str(site)}
    output = subprocess.run([sys.executable, "-c", USE], cwd=elsewhere, env=environment, capture_output=True, text=True, check=True).stdout
    assert output.split() == [str(site / package / "__init__.py") for package in ("blendgym", "blendgym_blender", "blendgym_envs")]
