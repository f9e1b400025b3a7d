"""blendgym/Pendulum-v0: a continuous-control env on Blender's rigid-body physics (envs/pendulum.py)."""

from __future__ import annotations

import math

import gymnasium
import numpy as np
import pytest

import blendgym

ENV_ID = "blendgym/Pendulum-v0"


@pytest.fixture
def env():
    env = gymnasium.make(ENV_ID)
    yield env
    env.close()


def angle(observation: np.ndarray) -> float:
    return math.atan2(float(observation[1]), float(observation[0]))


def exact_angle(theta: float, seconds: float, torque: float = 0.0, mass: float = 1.0, g: float = 9.81) -> float:
    """A uniform 1 m rod about its end: θ'' = (3g / 2l) sin θ + 3 torque / (m l²), integrated finely."""
    velocity, dt = 0.0, 1e-5
    for _ in range(int(round(seconds / dt))):
        velocity += (1.5 * g * math.sin(theta) + 3.0 * torque / mass) * dt
        theta += velocity * dt
    return theta


def test_spaces_and_registration(env: gymnasium.Env) -> None:
    assert env.action_space == gymnasium.spaces.Box(-2.0, 2.0, (1,), np.float32)
    assert env.observation_space.shape == (3,) and env.observation_space.dtype == np.float32
    assert env.spec.max_episode_steps == 200 and env.metadata["render_fps"] == 20


def test_the_rod_falls_and_the_motor_turns_it_as_rigid_body_dynamics_say(env: gymnasium.Env) -> None:
    observation, _ = env.reset(options={"state": [0.1, 0.0]})
    assert angle(observation) == pytest.approx(0.1, abs=1e-3) and observation[2] == pytest.approx(0.0, abs=1e-2)
    for _ in range(4):
        observation, reward, terminated, truncated, _ = env.step(np.zeros(1, np.float32))
    assert angle(observation) == pytest.approx(exact_angle(0.1, 0.2), rel=0.03)
    assert not terminated and reward == pytest.approx(-(angle(observation) ** 2 + 0.1 * float(observation[2]) ** 2), rel=1e-4)
    # Upright and still, a torque of +2 N·m turns θ up.
    observation, _ = env.reset(options={"state": [0.0, 0.0]})
    for _ in range(4):
        observation, *_ = env.step(np.full(1, 2.0, np.float32))
    assert angle(observation) == pytest.approx(exact_angle(0.0, 0.2, torque=2.0), rel=0.05)


def test_a_heavier_rod_turns_less_for_the_same_torque_deterministically(env: gymnasium.Env) -> None:
    def swing(**options: object) -> float:
        observation, _ = env.reset(seed=0, options={"state": [0.0, 0.0], **options})
        for _ in range(4):
            observation, *_ = env.step(np.full(1, 2.0, np.float32))
        return angle(observation)

    light, heavy = swing(), swing(rod_mass=3.0)
    assert heavy < light * 0.6
    assert swing(rod_mass=3.0) == heavy
    with pytest.raises(blendgym.BlenderEnvValueError, match=r"'rod_mass' must lie in \[0.25, 4\]"):
        env.reset(options={"rod_mass": 10.0})


def test_episodes_repeat_for_a_seed_and_truncate_at_200_steps(env: gymnasium.Env) -> None:
    def episode(seed: int) -> list[float]:
        observation, _ = env.reset(seed=seed)
        rewards, truncated, steps = [], False, 0
        actions = np.random.default_rng(seed)
        while not truncated:
            observation, reward, terminated, truncated, _ = env.step(actions.uniform(-2, 2, size=1).astype(np.float32))
            assert not terminated
            rewards.append(reward)
            steps += 1
        assert steps == 200
        return rewards

    assert episode(3) == episode(3)


@pytest.mark.parametrize("blender", ["embedded", pytest.param("executable", marks=pytest.mark.executable)])
def test_a_long_episode_swings_on_past_the_point_cache_range_and_the_next_reset_is_exact(blender: str, request: pytest.FixtureRequest) -> None:
    # Blender's point cache starts with a range of 4,096 frames and doubles it whenever an episode reaches its
    # end (blender_side/env.py, CACHE_FRAMES); the simulation would freeze at the end of the range.
    if blender == "executable":
        blender = request.getfixturevalue("blender_executable")
    env = gymnasium.make(ENV_ID, blender=blender)
    zero = np.zeros(1, np.float32)

    def short_episode() -> list[bytes]:
        observation, _ = env.reset(seed=5)
        return [observation.tobytes()] + [env.step(zero)[0].tobytes() for _ in range(20)]

    try:
        first = short_episode()
        unlimited = env.unwrapped  # past the 200-step time limit
        observations = [unlimited.reset(options={"state": [math.pi / 2, 0.0]})[0]]
        observations += [unlimited.step(zero)[0] for _ in range(9_000)]  # past frames 4,096 and 8,192
        assert short_episode() == first
    finally:
        env.close()
    swing = np.array(observations)
    # Per kilogram of the 1 m rod, ½ (l²/3) θ'² + g (l/2) cos θ: 0 from horizontal at rest, and kept without
    # friction. A frozen rod would keep its angle and lose its speed.
    energy = swing[:, 2] ** 2 / 6 + 4.905 * swing[:, 0]
    assert np.abs(energy).max() < 0.5
    assert np.ptp(swing[-20:, 1]) > 0.5
