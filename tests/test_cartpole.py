"""blendgym/CartPole-v0 through gymnasium.make, each env a real Blender process (the embedded bpy module)."""

from __future__ import annotations

import importlib.metadata
import os
from pathlib import Path

import gymnasium
import numpy as np
import pytest
from blendgym_blender import wire

import blendgym

from conftest import process_alive

ENV_ID = "blendgym/CartPole-v0"


@pytest.fixture
def env():
    env = gymnasium.make(ENV_ID)
    yield env
    env.close()


def run(env: gymnasium.Env, seed: int, actions: list[int]) -> list[np.ndarray]:
    observation, _ = env.reset(seed=seed)
    observations = [observation]
    for action in actions:
        observation, *_ = env.step(action)
        observations.append(observation)
    return observations


def reference_theta(theta0: float, seconds: float) -> float:
    """The pole angle of the rigid cart-pole (cart 1 kg; pole 0.1 kg, 0.05 x 0.05 x 1 m box) falling freely."""
    cart, pole, half, gravity = 1.0, 0.1, 0.5, 9.81
    inertia = pole * (1.0 + 0.05**2) / 12

    def derivative(state: np.ndarray) -> np.ndarray:
        _, x_dot, theta, theta_dot = state
        mass = np.array([[cart + pole, pole * half * np.cos(theta)], [pole * half * np.cos(theta), inertia + pole * half**2]])
        force = np.array([pole * half * np.sin(theta) * theta_dot**2, pole * gravity * half * np.sin(theta)])
        x_acc, theta_acc = np.linalg.solve(mass, force)
        return np.array([x_dot, x_acc, theta_dot, theta_acc])

    state, h = np.array([0.0, 0.0, theta0, 0.0]), 1e-4
    for _ in range(round(seconds / h)):  # Runge-Kutta 4
        k1 = derivative(state)
        k2 = derivative(state + h / 2 * k1)
        k3 = derivative(state + h / 2 * k2)
        k4 = derivative(state + h * k3)
        state = state + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
    return float(state[2])


def test_make_works_from_any_directory_and_declares_cartpole_spaces(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    env = gymnasium.make(ENV_ID)
    try:
        assert env.action_space == gymnasium.spaces.Discrete(2)
        assert env.observation_space.shape == (4,) and env.observation_space.dtype == np.float32
        assert env.spec.max_episode_steps == 500 and env.spec.reward_threshold == 475
        assert env.metadata["render_fps"] == 50
        observation, info = env.reset(seed=0)
        assert observation in env.observation_space and info == {}
        process = env.unwrapped.process
        assert process.hello["embedded"] and process.hello["blender_version"].startswith(importlib.metadata.version("bpy"))
        assert process.hello["env_id"] == ENV_ID and process.hello["protocol"] == wire.PROTOCOL_VERSION == 10
    finally:
        env.close()


def test_start_state_is_uniform_in_plus_minus_0_05(env: gymnasium.Env) -> None:
    starts = np.array([env.reset(seed=seed)[0] for seed in range(60)])
    # The launch frame holds the start velocities exactly; positions may lag by a thousandth.
    assert np.all(np.abs(starts) <= 0.05 + 2e-3)
    assert np.all(starts.min(axis=0) < -0.03) and np.all(starts.max(axis=0) > 0.03)


def test_a_freely_falling_pole_follows_the_rigid_cart_pole_equations() -> None:
    env = gymnasium.make(ENV_ID, force_mag=0.0)
    try:
        observation, _ = env.reset(options={"state": [0.0, 0.0, 0.05, 0.0]})
        np.testing.assert_allclose(observation, [0.0, 0.0, 0.05, 0.0], atol=1e-3)
        for _ in range(40):  # 0.8 s
            observation, *_ = env.step(0)
    finally:
        env.close()
    assert observation[2] == pytest.approx(reference_theta(0.05, 0.8), rel=0.01)


def test_start_velocities_reach_the_simulation(env: gymnasium.Env) -> None:
    observation, _ = env.reset(options={"state": [0.0, 0.5, 0.0, 0.0]})
    np.testing.assert_allclose(observation[:2], [0.0, 0.5], atol=2e-3)
    pushed, *_ = env.step(1)
    assert pushed[0] > 0.008  # moved on at ~0.5 m/s for 0.02 s, pushed further right


def test_rewards_termination_and_truncation(env: gymnasium.Env) -> None:
    env.reset(seed=1)
    rewards, terminated, steps = [], False, 0
    while not terminated:
        _, reward, terminated, truncated, _ = env.step(1)
        rewards.append(reward)
        steps += 1
        assert not truncated and steps < 100
    assert rewards == [1.0] * steps
    assert env.unwrapped.step(1)[1] == 0.0  # a step after termination earns nothing

    short = gymnasium.make(ENV_ID, max_episode_steps=30)
    try:
        observation, _ = short.reset(seed=2)
        for _ in range(30):
            observation, _, terminated, truncated, _ = short.step(int(observation[2] + 0.5 * observation[3] > 0))
            assert not terminated
        assert truncated
    finally:
        short.close()


def test_bad_actions_raise_value_error_and_change_nothing(env: gymnasium.Env) -> None:
    actions = [1, 0, 1, 1, 0]
    expected = run(env, 5, actions)
    observations = [env.reset(seed=5)[0]]
    for action in actions:
        for bad in (2, -1, 0.5, np.float32(1.0), np.nan, True, np.array([1, 0]), "left", None):
            with pytest.raises(ValueError, match="CartPole"):
                env.step(bad)
        observations.append(env.step(action)[0])
    assert all(a.tobytes() == b.tobytes() for a, b in zip(expected, observations, strict=True))


def test_bad_reset_options_are_rejected_and_the_env_goes_on(env: gymnasium.Env) -> None:
    with pytest.raises(ValueError, match="unknown reset options"):
        env.reset(options={"angle": 0.1})
    with pytest.raises(blendgym.BlenderEnvValueError, match="4 finite numbers"):
        env.reset(options={"state": [0.0, 0.0, 0.0]})
    # NaN is not JSON: refused before anything is sent (docs/protocol.md, "Errors").
    with pytest.raises(ValueError, match="without NaN or Infinity"):
        env.reset(options={"state": [0.0, np.nan, 0.0, 0.0]})
    with pytest.raises(ValueError, match="JSON"):
        env.reset(options={"state": object()})
    observation, _ = env.reset(options={"low": -0.01, "high": 0.01})
    assert np.all(np.abs(observation) <= 0.012)


def test_step_before_reset_is_an_error() -> None:
    env = blendgym.BlenderEnv("blendgym_envs.cartpole:CartPole")
    try:
        with pytest.raises(blendgym.BlenderEnvError, match="reset"):
            env.step(0)
        env.reset()
        env.step(0)
    finally:
        env.close()


def test_close_is_idempotent_and_leaves_nothing(env: gymnasium.Env) -> None:
    process = env.unwrapped.process
    env.reset()
    env.close()
    env.close()
    assert not process_alive(process.process.pid)
    assert not os.path.exists(process.directory)


def test_two_envs_run_side_by_side_on_private_endpoints() -> None:
    first, second = gymnasium.make(ENV_ID), gymnasium.make(ENV_ID)
    try:
        assert first.unwrapped.process.directory != second.unwrapped.process.directory
        assert first.reset(seed=4)[0].tobytes() == second.reset(seed=4)[0].tobytes()
        for _ in range(5):
            assert first.step(1)[0].tobytes() == second.step(1)[0].tobytes()
    finally:
        first.close()
        second.close()
