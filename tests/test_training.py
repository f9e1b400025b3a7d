"""The main job: agents/train_cartpole.py trains PPO on blendgym/CartPole-v0 to the reward threshold,
agents/record_cartpole.py records the trained policy, and agents/play_cartpole.py shows it live in Blender's
window (Debian's Blender on Xvfb). The other training scripts learn on a small budget.

Each test shows that its script works and learns; the scripts' full budgets are a documented run,
``python agents/results.py`` (docs/benchmarks.md, "Training results"). Seeds are fixed and the envs are
deterministic, so each verdict is reproducible; the margins leave room for torch's arithmetic on other CPUs.
Timeouts leave a machine 4× slower than the one the durations were measured on (docs/benchmarks.md) three
times its normal run."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from stable_baselines3 import PPO

from conftest import ARTIFACTS

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
@pytest.mark.executable
@pytest.mark.timeout(2700)
def test_ppo_solves_blender_cartpole(tmp_path: Path, display: str, blender_executable: str) -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "agents" / "train_cartpole.py"), "--out", str(tmp_path), "--no-progress-bar", "--max-timesteps", "60000"],
        capture_output=True,
        text=True,
        timeout=1700,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "SOLVED" in result.stdout
    mean_return = float(result.stdout.split("mean return ")[-1].split()[0])
    assert mean_return >= 475
    assert (tmp_path / "ppo_cartpole.zip").exists()

    # The trained policy, recorded by Blender: one episode in an mp4.
    videos = tmp_path / "videos"
    record = subprocess.run(
        [
            sys.executable,
            str(ROOT / "agents" / "record_cartpole.py"),
            "--model",
            str(tmp_path / "ppo_cartpole.zip"),
            "--out",
            str(videos),
            "--width",
            "320",
            "--height",
            "240",
        ],
        capture_output=True,
        text=True,
        timeout=450,
    )
    assert record.returncode == 0, record.stdout[-3000:] + record.stderr[-3000:]
    assert float(record.stdout.split("episode 0: return ")[1].split()[0]) >= 475
    assert [path.stat().st_size > 10_000 for path in videos.glob("*.mp4")] == [True]

    # The trained policy, live in Blender's window: a full 500-step episode, in real time.
    ARTIFACTS.mkdir(exist_ok=True)
    screenshot = ARTIFACTS / "play-cartpole.png"
    play = subprocess.run(
        [
            sys.executable,
            str(ROOT / "agents" / "play_cartpole.py"),
            "--model",
            str(tmp_path / "ppo_cartpole.zip"),
            "--episodes",
            "1",
            "--blender",
            blender_executable,
            "--screenshot",
            str(screenshot),
        ],
        capture_output=True,
        text=True,
        timeout=450,
    )
    assert play.returncode == 0, play.stdout[-3000:] + play.stderr[-3000:]
    assert "episode 0: return 500" in play.stdout
    window = np.asarray(Image.open(screenshot))
    assert window.shape == (720, 960, 3) and window.std() > 10


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_ppo_cnn_from_pixels_trains_evaluates_and_saves(tmp_path: Path) -> None:
    """agents/train_cartpole_pixels.py end to end on a small budget: SB3's CnnPolicy on stacked 36×36 camera
    images from a pool of two Blenders trains, both policies are evaluated on 20 episodes each, and the saved
    policy takes the stacked images (4 frames × RGB, channels first as SB3 stores them).

    Whether it learns is a matter of budget, so the learning result is the documented run (`python
    agents/results.py`, docs/rendering.md: 40,000 steps of 84×84 images, 2.4× a random policy's return), not
    this test. A cheap budget does not learn reliably: at 32,768 steps of 36×36 images the training episodes'
    mean return rose from 19.8 to 26.0 on one machine and only from 20.5 to 21.9 on another (the same seeds;
    torch's arithmetic differs between CPUs and the trajectories diverge), so a verdict on it was a coin toss."""
    result = subprocess.run(
        [sys.executable, str(ROOT / "agents" / "train_cartpole_pixels.py"), "--out", str(tmp_path), "--timesteps", "2048", "--size", "36"],
        capture_output=True,
        text=True,
        timeout=500,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "trained 2048 steps from 36x36 images" in result.stdout, result.stdout
    returns = re.search(r"trained policy: mean return ([\d.]+); random policy: ([\d.]+)", result.stdout)
    assert returns is not None, result.stdout
    # CartPole's return counts the steps the pole stayed up: at least the 8 or so it takes to fall, at most 500.
    assert all(8.0 <= float(value) <= 500.0 for value in returns.groups()), result.stdout
    model = PPO.load(tmp_path / "ppo_cartpole_pixels.zip", device="cpu")
    assert model.observation_space.shape == (12, 36, 36) and model.num_timesteps == 2048


@pytest.mark.slow
@pytest.mark.timeout(1500)
def test_sac_swings_up_the_blender_pendulum_which_random_actions_do_not(tmp_path: Path) -> None:
    """agents/train_pendulum.py: continuous control; the threshold (-400) is out of random actions' reach.
    3,500 steps (17.5 episodes, 108 s on a slow 2-core machine) reached -186 here, 5,000 steps -173, against
    -1,160 for random actions."""
    result = subprocess.run(
        [sys.executable, str(ROOT / "agents" / "train_pendulum.py"), "--out", str(tmp_path), "--timesteps", "3500"],
        capture_output=True,
        text=True,
        timeout=1400,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "SOLVED" in result.stdout
    random_return = float(result.stdout.split("random actions: mean return ")[1].split()[0])
    trained_return = float(result.stdout.split("mean return ")[-1].split()[0])
    assert random_return < -800 and trained_return >= -400
    assert (tmp_path / "sac_pendulum.zip").exists()


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_sac_learns_blender_reacher(tmp_path: Path) -> None:
    """agents/train_sac.py on blendgym/Reacher-v0 for 3,000 steps (60 episodes): SAC learns to stop wasting
    torque, the first thing it learns; reaching the target takes a longer budget (docs/benchmarks.md). Measured
    here: random actions -41.8, trained -9.5, and -10.6 for MuJoCo's Reacher-v5 at the same budget."""
    result = subprocess.run(
        [sys.executable, str(ROOT / "agents" / "train_sac.py"), "blendgym/Reacher-v0", "--out", str(tmp_path), "--timesteps", "3000"],
        capture_output=True,
        text=True,
        timeout=1000,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    random_return = float(result.stdout.split("random actions: mean return ")[1].split()[0])
    trained_return = float(result.stdout.split("evaluation over 10 episodes: mean return ")[1].split()[0])
    assert random_return < -30 and trained_return > -15
    assert (tmp_path / "sac_blendgym_Reacher-v0.zip").exists()
