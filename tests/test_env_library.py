"""The env library built on the physics toolkit (docs/envs.md): what every env there must do, and each env's
own semantics. Every env is tested through its registered id, in real Blender processes."""

from __future__ import annotations

import re
from pathlib import Path

import gymnasium
import numpy as np
import pytest

import blendgym  # noqa: F401  (registers the ids)
from blendgym.testing import check_env_checkers, check_pool_matches_sync, check_seeded_episodes_repeat

from conftest import TESTS

ROOT = Path(__file__).resolve().parents[1]


def make_mujoco(env_id: str) -> gymnasium.Env:
    """gymnasium's MuJoCo counterpart of a blendgym env, or a failure that says what to install."""
    try:
        import mujoco  # noqa: F401
    except ImportError:
        pytest.fail(f"comparing with {env_id} needs MuJoCo: pip install -e '.[test]' (or pip install mujoco)")
    return gymnasium.make(env_id)


# Every id blendgym registers, each checked by the conformance suite users run on their own envs.
REGISTERED = sorted(env_id for env_id in gymnasium.registry if env_id.startswith("blendgym/"))


def test_the_docs_list_exactly_the_registered_envs() -> None:
    listed = set(re.findall(r"^\| `(blendgym/[\w-]+)`", (ROOT / "docs" / "envs.md").read_text(), re.MULTILINE))
    assert listed == set(REGISTERED)


@pytest.mark.parametrize("env_id", REGISTERED)
@pytest.mark.executable
def test_both_env_checkers_pass(env_id: str, display: str, blender_executable: str) -> None:
    check_env_checkers(env_id, skip_render_check=False)  # makes the env in every render mode, "human" included (Blender 3.4)


@pytest.mark.parametrize("env_id", REGISTERED)
def test_episodes_are_bit_identical_per_seed(env_id: str) -> None:
    check_seeded_episodes_repeat(env_id)


@pytest.mark.parametrize("env_id", REGISTERED)
def test_the_pool_matches_sync_vector_env_step_by_step(env_id: str) -> None:
    check_pool_matches_sync(env_id)


def test_the_check_catches_an_env_that_ignores_its_seed() -> None:
    blendgym.register_env("tests/Unseeded-v0", f"{TESTS / 'envs' / 'faulty.py'}:Unseeded", max_episode_steps=20)
    with pytest.raises(AssertionError, match="tests/Unseeded-v0: seed 4 gave two envs different observations at step 0"):
        check_seeded_episodes_repeat("tests/Unseeded-v0", steps=0)  # its actions 1 to 4 fail on purpose


def test_reacher_has_reacher_v5_semantics() -> None:
    env = gymnasium.make("blendgym/Reacher-v0")
    try:
        assert env.spec is not None and env.spec.max_episode_steps == 50 and env.spec.reward_threshold == -3.75
        assert env.action_space == gymnasium.spaces.Box(-1.0, 1.0, (2,), np.float32) and env.observation_space.shape == (10,)
        observation, info = env.reset(seed=0, options={"state": [0.3, -0.5, 0.0, 0.0], "target": [0.1, -0.05]})
        angles = np.array([0.3, -0.5])
        np.testing.assert_allclose(observation[:4], np.concatenate([np.cos(angles), np.sin(angles)]), atol=1e-4)
        np.testing.assert_allclose(observation[4:6], [0.1, -0.05], atol=1e-6)
        # The fingertip, 0.1 m and 0.11 m along the two links, by forward kinematics.
        tip = 0.1 * np.array([np.cos(0.3), np.sin(0.3)]) + 0.11 * np.array([np.cos(-0.2), np.sin(-0.2)])
        np.testing.assert_allclose(observation[8:10], tip - [0.1, -0.05], atol=1e-4)
        action = np.array([0.5, -0.25], np.float32)
        observation, reward, terminated, truncated, info = env.step(action)
        assert info["reward_ctrl"] == pytest.approx(-(0.25 + 0.0625))
        assert info["reward_dist"] == pytest.approx(-np.linalg.norm(observation[8:10]))
        assert reward == pytest.approx(info["reward_dist"] + info["reward_ctrl"]) and not terminated
        assert observation[6] > 0 and observation[7] < 0  # the torques turn the joints their way
        for _ in range(49):
            *_, truncated, _ = env.step(action)
        assert truncated
        # Start states as Reacher-v5 draws them: angles within ±0.1 rad, the target inside the 0.2 m disc.
        for seed in range(10):
            observation, _ = env.reset(seed=seed)
            assert np.all(np.abs(np.arctan2(observation[2:4], observation[:2])) <= 0.1 + 1e-4)
            assert np.linalg.norm(observation[4:6]) < 0.2
    finally:
        env.close()


def test_pusher_has_pusher_v5_rewards_and_pushes_its_object_across_the_table() -> None:
    env = gymnasium.make("blendgym/Pusher-v0")
    home = [-np.pi / 2, np.pi / 2, 0.0]
    try:
        assert env.spec is not None and env.spec.max_episode_steps == 100 and env.spec.reward_threshold == 0
        assert env.action_space == gymnasium.spaces.Box(-2.0, 2.0, (3,), np.float32) and env.observation_space.shape == (15,)
        observation, info = env.reset(seed=0, options={"state": [*home, 0.0, 0.0, 0.0], "object": [0.3, -0.15], "goal": [0.6, 0.1]})
        np.testing.assert_allclose(observation[:6], [*home, 0.0, 0.0, 0.0], atol=1e-3)
        # The tip by forward kinematics: 0.4 m along −y, then 0.3 + 0.2 m along +x, on the table (links 3 cm).
        np.testing.assert_allclose(observation[6:9], [0.5, -0.4, 0.015], atol=2e-3)
        np.testing.assert_allclose(observation[9:15], [0.3, -0.15, 0.03, 0.6, 0.1, 0.03], atol=1e-4)
        assert info == {"touching": False}
        # Joint 0 driven counterclockwise sweeps the arm's second link into the object, which it pushes along
        # the table; the object slides and never leaves it.
        action = np.array([2.0, 0.0, 0.0], np.float32)
        touched, heights, travel = False, [], 0.0
        for step in range(100):
            observation, reward, terminated, truncated, info = env.step(action)
            assert info["reward_ctrl"] == pytest.approx(-0.4)
            assert info["reward_dist"] == pytest.approx(-np.linalg.norm(observation[9:12] - observation[12:15]))
            assert info["reward_near"] == pytest.approx(-0.5 * np.linalg.norm(observation[9:12] - observation[6:9]))
            assert reward == pytest.approx(info["reward_dist"] + info["reward_near"] + info["reward_ctrl"]) and not terminated
            touched |= info["touching"]
            heights.append(observation[11])
            travel = max(travel, float(np.linalg.norm(observation[9:11] - [0.3, -0.15])))
            if step == 20:
                assert observation[3] > 0.5  # joint 0 turns its way
        assert truncated and touched
        assert travel > 0.2
        np.testing.assert_allclose(heights, 0.03, atol=0.002)
        # Start states as Pusher-v5 draws them: the arm at home, the object at rest 0.17 to 0.36 m from the goal.
        for seed in range(10):
            observation, _ = env.reset(seed=seed)
            np.testing.assert_allclose(observation[:3], home, atol=1e-3)
            offset = observation[9:11] - observation[12:14]
            assert -0.3 <= offset[0] <= 0 and abs(offset[1]) <= 0.2 and np.linalg.norm(offset) > 0.17
        with pytest.raises(blendgym.BlenderEnvValueError, match="inside the arm"):
            env.reset(options={"object": [0.2, -0.4]})
    finally:
        env.close()


def test_inverted_double_pendulum_has_inverted_double_pendulum_v5_semantics() -> None:
    env = gymnasium.make("blendgym/InvertedDoublePendulum-v0")
    try:
        assert env.observation_space.shape == (9,) and env.action_space.shape == (1,)
        assert env.spec is not None and env.spec.max_episode_steps == 1000 and env.spec.reward_threshold == 9100
        state = [0.2, 0.3, -0.2, 0.5, -1.0, 2.0]
        observation, _ = env.reset(seed=0, options={"state": state})
        # Positions within 1e-3 (a chain's launch lags a little, measured 1.3e-4 here), velocities exactly.
        np.testing.assert_allclose(observation[:5], [0.2, np.sin(0.3), np.sin(-0.2), np.cos(0.3), np.cos(-0.2)], atol=1e-3)
        np.testing.assert_allclose(observation[5:8], state[3:], atol=1e-3)
        assert observation[8] == 0.0
        # Upright and still, the tip is 1.2 m up: 10 − (1.2 − 2)² per step, no velocity penalty.
        env.reset(seed=0, options={"state": [0.0] * 6})
        observation, reward, terminated, _, info = env.step(np.zeros(1, np.float32))
        assert reward == pytest.approx(10 - 0.8**2, abs=1e-3) and not terminated
        assert info["reward_survive"] == 10 and info["velocity_penalty"] == pytest.approx(0, abs=1e-6)
        # Pushed hard, the cart moves its way and the poles fall back; the episode ends when the tip is
        # down to 1 m, and that step earns no alive bonus.
        env.reset(seed=0, options={"state": [0.0] * 6})
        for step in range(100):  # noqa: B007 (the step it ended at is checked below)
            observation, reward, terminated, _, info = env.step(np.ones(1, np.float32))
            assert reward == pytest.approx(sum(info.values()))
            if terminated:
                break
        assert terminated and 1 <= step < 20 and info["reward_survive"] == 0
        assert observation[0] > 0 and observation[1] < 0
        # Start states as InvertedDoublePendulum-v5 draws them: positions within ±0.1, velocities N(0, 0.1²).
        velocities = []
        for seed in range(20):
            observation, _ = env.reset(seed=seed)
            assert abs(observation[0]) <= 0.1 + 1e-4 and np.all(np.abs(np.arcsin(observation[1:3])) <= 0.1 + 1e-4)
            velocities.extend(observation[5:8])
        assert 0.05 < np.std(velocities) < 0.15
    finally:
        env.close()


def test_inverted_double_pendulum_moves_as_mujocos_does() -> None:
    # The same start states and actions in gymnasium's InvertedDoublePendulum-v5 (MuJoCo) and here, until
    # the poles fall (6 to 11 steps): positions agree within 0.02 and velocities within 0.2 rad/s at every
    # step (measured at the defaults, 20 substeps and 30 solver iterations: 0.009 and 0.09; the difference
    # is Bullet's first-order integration against MuJoCo's RK4: 0.016 and 0.09 at 10 iterations, 0.06 and
    # 0.28 at 10 substeps), and both episodes end on the same step.
    mujoco_env = make_mujoco("InvertedDoublePendulum-v5")
    env = gymnasium.make("blendgym/InvertedDoublePendulum-v0")
    rng = np.random.default_rng(0)
    try:
        for trial in range(4):
            state = np.concatenate([rng.uniform(-0.1, 0.1, 3), rng.normal(0, 0.3, 3)])
            actions = rng.uniform(-1, 1, (50, 1)).astype(np.float32) * (trial % 2)  # every other trial unactuated
            mujoco_env.reset(seed=0)
            mujoco_env.unwrapped.set_state(state[:3], state[3:])
            env.reset(seed=0, options={"state": list(state)})
            for step, action in enumerate(actions):
                expected, expected_reward, expected_end, *_ = mujoco_env.step(action)
                observation, reward, terminated, *_ = env.step(action)
                np.testing.assert_allclose(observation[:5], expected[:5], atol=0.02, err_msg=f"trial {trial}, step {step}")
                np.testing.assert_allclose(observation[5:8], expected[5:8], atol=0.2, err_msg=f"trial {trial}, step {step}")
                assert reward == pytest.approx(expected_reward, abs=0.1)
                assert terminated == expected_end, f"trial {trial}, step {step}"
                if terminated:
                    break
            assert terminated
    finally:
        mujoco_env.close()
        env.close()


def test_ball_balance_tilts_its_plate_and_ends_when_the_ball_falls_off() -> None:
    env = gymnasium.make("blendgym/BallBalance-v0")
    try:
        assert env.spec is not None and env.spec.max_episode_steps == 200 and env.spec.reward_threshold == 150
        assert env.action_space == gymnasium.spaces.Box(-1.0, 1.0, (2,), np.float32) and env.observation_space.shape == (10,)
        observation, info = env.reset(seed=0, options={"state": [0.1, -0.05, 0.0, 0.0], "ball": [0.05, -0.02], "target": [0.0, 0.1]})
        np.testing.assert_allclose(observation[:4], [0.1, -0.05, 0.0, 0.0], atol=1e-3)
        np.testing.assert_allclose(observation[4:8], [0.05, -0.02, 0.0, 0.0], atol=1e-3)
        np.testing.assert_allclose(observation[8:10], [0.0, 0.1], atol=1e-9)
        assert info["distance"] == pytest.approx(np.hypot(0.05, 0.12), abs=1e-3)
        # Each servo takes the plate to its target angle; the ball rolls down the slope that makes: lowering
        # the +x edge (tilt_y > 0) sends it to +x, raising the +y edge (tilt_x > 0) sends it to −y.
        for hinge, rolls_along, sign in ((1, 0, 1.0), (0, 1, -1.0)):
            observation, _ = env.reset(seed=0, options={"state": [0.0, 0.0, 0.0, 0.0], "ball": [0.0, 0.0], "target": [0.0, 0.0]})
            action = np.zeros(2, np.float32)
            action[hinge] = 1.0
            for _ in range(10):
                observation, reward, terminated, _, info = env.step(action)
            assert observation[hinge] == pytest.approx(0.2, abs=0.02)
            ball = observation[4:6]
            assert sign * ball[rolls_along] > 0.05 and abs(ball[1 - rolls_along]) < 0.01
            assert reward == pytest.approx(1 - info["distance"] / 0.25) and not terminated
        # Held there, the ball leaves the plate: the episode terminates, and that step earns nothing.
        for _ in range(50):
            observation, reward, terminated, truncated, _ = env.step(np.array([1.0, 0.0], np.float32))
            if terminated:
                break
        assert terminated and not truncated and reward == 0.0 and observation[5] < -0.25
        # Start states as drawn: the plate within ±0.05 rad and at rest, ball and target within 0.1 m of the centre.
        for seed in range(10):
            observation, _ = env.reset(seed=seed)
            assert np.all(np.abs(observation[:2]) <= 0.05 + 1e-3) and np.all(np.abs(observation[2:4]) < 1e-2)
            assert np.linalg.norm(observation[4:6]) < 0.1 + 1e-3 and np.linalg.norm(observation[8:10]) < 0.1
        with pytest.raises(ValueError, match="off the plate"):
            env.reset(options={"ball": [0.3, 0.0]})
        with pytest.raises(ValueError, match="stops"):
            env.reset(options={"state": [0.5, 0.0, 0.0, 0.0]})
    finally:
        env.close()
