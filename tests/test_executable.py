"""The same env on a Blender executable: Debian's blender 3.4 in CI (`apt-get install blender`)."""

from __future__ import annotations

import gymnasium
import numpy as np
import pytest

import blendgym

from conftest import FAULTY_ENV

pytestmark = pytest.mark.executable


def test_cartpole_on_blender_3_4_matches_the_embedded_blender(blender_executable: str) -> None:
    actions = [int(a) for a in np.random.default_rng(0).integers(0, 2, 30)]
    trajectories = []
    for blender in (blender_executable, "embedded"):
        env = gymnasium.make("blendgym/CartPole-v0", blender=blender)
        try:
            observations = [env.reset(seed=11)[0]]
            observations += [env.step(action)[0] for action in actions]
            trajectories.append(np.array(observations))
            hello = env.unwrapped.process.hello
            assert hello["embedded"] == (blender == "embedded")
        finally:
            env.close()
    np.testing.assert_allclose(trajectories[0], trajectories[1], atol=1e-5)


def test_errors_reach_the_host_from_an_executable(blender_executable: str) -> None:
    env = blendgym.BlenderEnv(FAULTY_ENV, blender=blender_executable)
    try:
        assert env.process.hello["blender_version"].split(".")[:2] >= ["3", "4"]
        env.reset()
        with pytest.raises(blendgym.BlenderEnvError, match="boom from inside Blender"):
            env.step(1)
        env.reset()
        env.step(0)
    finally:
        env.close()
