"""The main job: agents/train_cartpole.py trains PPO on blendgym/CartPole-v0 to the reward threshold."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_ppo_solves_blender_cartpole(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "agents" / "train_cartpole.py"), "--out", str(tmp_path), "--no-progress-bar"],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "SOLVED" in result.stdout
    mean_return = float(result.stdout.split("mean return ")[-1].split()[0])
    assert mean_return >= 475
    assert (tmp_path / "ppo_cartpole.zip").exists()
