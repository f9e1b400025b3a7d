"""What blendgym promises of every env and every data generator, as one call that checks one of yours:
``check_env("me/Reach-v0")``, ``check_generator("monkey.py:Monkey")``.

blendgym's own tests run them on every registered env and generator and on the guides' (docs/envs.md,
"Checking an env"; docs/data.md, "Checking a generator"). Each check starts real Blender processes. A failed
check raises ``AssertionError`` whose first line names the env or generator and the check.
"""

from __future__ import annotations

from typing import Any

import gymnasium
import numpy as np
from gymnasium.utils.env_checker import check_env as gymnasium_check_env

__all__ = ["check_env", "check_env_checkers", "check_generator", "check_pool_matches_sync", "check_seeded_episodes_repeat"]


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


def check_generator(generator: str, *, num_items: int = 6, seed: int = 0, width: int = 96, height: int = 72, **kwargs: Any) -> None:
    """A data generator (a registered name or ``path/file.py:Class``) keeps blendgym.data's promises: every
    index from 0 to ``num_items`` - 1 comes exactly once, item *i* is the same with one process and with two
    (a pure function of the seed and *i*), another seed gives another first image, and each labelled object's
    box and pixel count are those of its mask in the segmentation. ``kwargs`` go to ``BlenderDataset``."""
    from .data import BlenderDataset  # torch is imported only by those who check a generator

    outputs = ("rgb", "segmentation", "depth", "boxes")
    runs = []
    for processes in (1, 2):
        items: dict[int, dict[str, Any]] = {}
        dataset = BlenderDataset(
            generator, num_items=num_items, seed=seed, num_processes=processes, outputs=outputs, width=width, height=height, **kwargs
        )
        for item in dataset:
            if item["index"] in items:
                raise AssertionError(f"{generator}: item {item['index']} came twice from {processes} process(es)")
            items[item["index"]] = item
        if sorted(items) != list(range(num_items)):
            raise AssertionError(f"{generator}: {processes} process(es) gave the items {sorted(items)}, not 0 to {num_items - 1}")
        runs.append(items)
    for index, item in runs[0].items():
        _check_item_labels(generator, item)
        _check_same_item(generator, index, item, runs[1][index])
    other = next(iter(BlenderDataset(generator, num_items=1, seed=seed + 1, outputs=("rgb",), width=width, height=height, **kwargs)))
    if np.array_equal(other["rgb"], runs[0][0]["rgb"]):
        raise AssertionError(f"{generator}: seeds {seed} and {seed + 1} give the same first image; generate() must draw from its rng")


def _check_same_item(generator: str, index: int, first: dict[str, Any], second: dict[str, Any]) -> None:
    if first.keys() != second.keys():
        raise AssertionError(f"{generator}: item {index} has the keys {sorted(first)} from one process, {sorted(second)} from two")
    for key, value in first.items():
        same = np.array_equal(value, second[key]) if isinstance(value, np.ndarray) else value == second[key]
        if not same:
            raise AssertionError(f"{generator}: item {index}'s {key!r} differs between one process and two; make it depend only on seed and index")


def _check_item_labels(generator: str, item: dict[str, Any]) -> None:
    segmentation = item["segmentation"]
    for entry in item["objects"]:
        mask = segmentation == entry["id"]
        where = f"{generator}: item {item['index']}, object {entry['id']} ({entry.get('class', 'no class')})"
        if entry["visible_pixels"] != mask.sum():
            raise AssertionError(f"{where}: {entry['visible_pixels']} visible pixels, but {mask.sum()} in the segmentation")
        rows, columns = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
        box = [int(columns[0]), int(rows[0]), int(columns[-1]) + 1, int(rows[-1]) + 1] if mask.any() else None
        if entry["box"] != box:
            raise AssertionError(f"{where}: box {entry['box']}, but its mask spans {box}")


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
