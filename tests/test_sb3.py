"""blendgym.sb3: stable-baselines3's VecEnv interface over a pool of real Blender processes."""

from __future__ import annotations

import os
import signal
from typing import Any

import numpy as np
import pytest
from stable_baselines3 import PPO
from stable_baselines3.common.callbacks import BaseCallback
from test_vector import wait_gone

from blendgym.sb3 import BlenderVecEnv, make_vec_env

from conftest import process_alive

ENV_ID = "blendgym/CartPole-v0"


def pool_pids(venv: Any) -> list[int]:
    return list(venv.unwrapped.vector_env.pids)


def test_vec_env_follows_sb3_conventions() -> None:
    venv = make_vec_env(ENV_ID, n_envs=2, seed=4, max_episode_steps=15)
    try:
        assert isinstance(venv.unwrapped, BlenderVecEnv) and venv.num_envs == 2
        first = venv.reset()
        venv.seed(4)
        np.testing.assert_array_equal(venv.reset(), first)  # seed() applies to the next reset only
        assert not np.array_equal(venv.reset(), first)
        state = [0.0, 0.0, 0.01, 0.0]
        venv.set_options({"state": state})
        np.testing.assert_allclose(venv.reset(), [state, state], atol=1e-3)
        seen = {"terminated": False, "truncated": False}
        for actions in np.random.default_rng(0).integers(0, 2, (80, 2)):
            observations, rewards, dones, infos = venv.step(actions)
            assert rewards.dtype == np.float32 and dones.dtype == bool and len(infos) == 2
            for index, (done, info) in enumerate(zip(dones, infos, strict=True)):
                assert "TimeLimit.truncated" in info
                if done:
                    terminal = info["terminal_observation"]
                    assert terminal.shape == (4,) and not np.array_equal(terminal, observations[index])
                    assert "episode" in info  # VecMonitor's episode statistics
                    seen["truncated" if info["TimeLimit.truncated"] else "terminated"] = True
                else:
                    assert "terminal_observation" not in info
        assert seen == {"terminated": True, "truncated": True}
        assert venv.get_attr("force_mag") == [10.0, 10.0]
        venv.set_attr("force_mag", 5.0, indices=[1])
        assert venv.get_attr("force_mag") == [10.0, 5.0]
        assert venv.env_method("force_mag", indices=1) == [5.0]
        assert venv.env_is_wrapped(object) == [False, False]  # type: ignore[arg-type]
        assert venv.get_attr("render_mode") == [None, None]
    finally:
        venv.close()


class KillOneBlender(BaseCallback):
    """Kills pool member 1 with SIGKILL at step ``at`` and records the restart notes SB3's infos carry."""

    def __init__(self, at: int) -> None:
        super().__init__()
        self.at = at
        self.victim: int | None = None
        self.notes: list[tuple[bool, str]] = []

    def _on_step(self) -> bool:
        if self.num_timesteps == self.at:
            self.victim = pool_pids(self.training_env)[1]
            os.kill(self.victim, signal.SIGKILL)
        for info, done in zip(self.locals["infos"], self.locals["dones"], strict=True):
            if "blender_restart" in info:
                self.notes.append((bool(done and info["TimeLimit.truncated"]), info["blender_restart"]))
        return True


@pytest.mark.slow
def test_sigkill_of_a_blender_process_during_ppo_training() -> None:
    venv = make_vec_env(ENV_ID, n_envs=2, seed=0)
    callback = KillOneBlender(at=1000)
    model = PPO("MlpPolicy", venv, n_steps=128, batch_size=128, n_epochs=2, seed=0, verbose=0)
    model.learn(total_timesteps=3000, callback=callback)
    pids = pool_pids(venv)
    assert model.num_timesteps >= 3000  # the run finished
    assert callback.victim is not None and not process_alive(callback.victim)
    assert len(callback.notes) == 1, callback.notes
    truncated, note = callback.notes[0]
    assert truncated and "killed by signal 9" in note
    assert callback.victim not in pids
    venv.close()
    assert wait_gone(pids + [callback.victim]) == []
