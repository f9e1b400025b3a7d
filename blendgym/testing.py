"""What blendgym promises of every env, as one call that checks an env of yours: ``check_env("me/Reach-v0")``.

blendgym's own tests run it on every registered env and on the guide's env (docs/envs.md, "Checking an
env"). Each check starts real Blender processes: the env as ``gymnasium.make`` makes it, and a pool as
``gymnasium.make_vec`` makes it. A failed check raises ``AssertionError`` whose first line names the env and
the check.
"""

from __future__ import annotations

from typing import Any

import gymnasium
import numpy as np
from gymnasium.utils.env_checker import check_env as gymnasium_check_env

__all__ = ["check_env", "check_env_checkers", "check_pool_matches_sync", "check_seeded_episodes_repeat"]


def check_env(env_id: str, *, seed: int = 4, steps: int = 30, pool_steps: int = 60, skip_render_check: bool = True, **kwargs: Any) -> None:
    """Every check below on the registered ``env_id`` (made with ``kwargs``): gymnasium's and SB3's
    checkers accept it, two envs given one seed play bit-identical episodes, and blendgym's pool of two
    Blender processes steps exactly as gymnasium's ``SyncVectorEnv`` of two envs. ``skip_render_check=False``
    lets gymnasium's checker also open the env in ``render_mode="human"``, which needs a display
    (docs/live.md)."""
    check_env_checkers(env_id, skip_render_check=skip_render_check, **kwargs)
    check_seeded_episodes_repeat(env_id, seed=seed, steps=steps, **kwargs)
    check_pool_matches_sync(env_id, seed=seed, steps=pool_steps, **kwargs)


def check_env_checkers(env_id: str, *, skip_render_check: bool = True, **kwargs: Any) -> None:
    """gymnasium's ``check_env`` and stable-baselines3's accept the env. ``skip_render_check`` is gymnasium's;
    SB3's render check stays off, since it closes the env and then steps it."""
    try:
        from stable_baselines3.common.env_checker import check_env as sb3_check_env
    except ImportError as error:
        raise ImportError(f"checking {env_id} with SB3's env checker needs stable-baselines3: pip install 'blendgym[train]'") from error
    env = gymnasium.make(env_id, **kwargs)
    try:
        gymnasium_check_env(env.unwrapped, skip_render_check=skip_render_check)
        sb3_check_env(env.unwrapped)
    finally:
        env.close()


def check_seeded_episodes_repeat(env_id: str, *, seed: int = 4, steps: int = 30, **kwargs: Any) -> None:
    """Two envs reset with one seed and given the same actions return bit-identical observations and rewards
    for ``steps`` steps (or to the episode's end); another seed starts elsewhere."""
    first, second = gymnasium.make(env_id, **kwargs), gymnasium.make(env_id, **kwargs)
    try:
        one, again = _episode(first, seed, steps), _episode(second, seed, steps)
        if len(one) != len(again):
            raise AssertionError(f"{env_id}: seed {seed}'s episode ended after {len(one) // 2} steps, and again after {len(again) // 2}")
        for index, (left, right) in enumerate(zip(one, again, strict=True)):
            if not np.array_equal(left, right):
                what = "observation" if index % 2 == 0 else "reward"
                raise AssertionError(f"{env_id}: seed {seed} gave two envs different {what}s at step {index // 2}: {left} and {right}")
        other = _episode(first, seed + 1, 0)
        if np.array_equal(one[0], other[0]):
            raise AssertionError(f"{env_id}: seeds {seed} and {seed + 1} start in the same state; reset(seed=) must seed the start state")
    finally:
        first.close()
        second.close()


def check_pool_matches_sync(env_id: str, *, seed: int = 4, steps: int = 60, **kwargs: Any) -> None:
    """``gymnasium.make_vec(env_id, num_envs=2, vectorization_mode="vector_entry_point")``, blendgym's pool,
    returns exactly what gymnasium's ``SyncVectorEnv`` returns, step by step (autoresets included when an
    episode ends within ``steps``)."""
    pool = gymnasium.make_vec(env_id, num_envs=2, vectorization_mode="vector_entry_point", **kwargs)
    sync = gymnasium.make_vec(env_id, num_envs=2, vectorization_mode="sync", **kwargs)
    try:
        names = ("observations", "rewards", "terminations", "truncations")
        if not np.array_equal(pool.reset(seed=seed)[0], sync.reset(seed=seed)[0]):
            raise AssertionError(f"{env_id}: the pool's first observations differ from SyncVectorEnv's for seed {seed}")
        pool.action_space.seed(seed)
        for step in range(steps):
            actions = pool.action_space.sample()
            for name, pooled, synced in zip(names, pool.step(actions)[:4], sync.step(actions)[:4], strict=True):
                if not np.array_equal(pooled, synced):
                    raise AssertionError(f"{env_id}: at step {step} the pool's {name} differ from SyncVectorEnv's: {pooled} and {synced}")
    finally:
        pool.close()
        sync.close()


def _episode(env: gymnasium.Env, seed: int, steps: int) -> list[Any]:
    """The start observation, then each step's observation and reward, under actions drawn from the action
    space seeded with ``seed``."""
    observation, _ = env.reset(seed=seed)
    env.action_space.seed(seed)
    trajectory = [observation]
    for _ in range(steps):
        observation, reward, terminated, truncated, _ = env.step(env.action_space.sample())
        trajectory += [observation, np.float64(reward)]
        if terminated or truncated:
            break
    return trajectory
