"""The env ids blendgym registers with gymnasium on ``import blendgym``."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import gymnasium

from .env import resolve_env_class

ENTRY_POINT = "blendgym.env:BlenderEnv"
VECTOR_ENTRY_POINT = "blendgym.vector:BlenderVectorEnv"

ENVS: dict[str, dict[str, Any]] = {
    "blendgym/CartPole-v0": {
        "env_class": "blendgym_envs.cartpole:CartPole",
        "max_episode_steps": 500,
        "reward_threshold": 475.0,
    },
    # The same cart-pole, seen through its camera: 84×84 RGB observations, for training from pixels; its
    # appearance and physics parameters randomise it (docs/envs.md).
    "blendgym/CartPolePixels-v0": {
        "env_class": "blendgym_envs.cartpole:CartPole",
        "max_episode_steps": 500,
        "reward_threshold": 475.0,
        "kwargs": {"obs_mode": "pixels"},
    },
    "blendgym/Pendulum-v0": {
        "env_class": "blendgym_envs.pendulum:Pendulum",
        "max_episode_steps": 200,
        "reward_threshold": -400.0,
    },
    "blendgym/Reacher-v0": {
        "env_class": "blendgym_envs.reacher:Reacher",
        "max_episode_steps": 50,
        "reward_threshold": -3.75,
    },
    "blendgym/Pusher-v0": {
        "env_class": "blendgym_envs.pusher:Pusher",
        "max_episode_steps": 100,
        "reward_threshold": 0.0,
    },
    "blendgym/BallBalance-v0": {
        "env_class": "blendgym_envs.ball_balance:BallBalance",
        "max_episode_steps": 200,
        "reward_threshold": 150.0,
    },
    # The same plate and ball, seen through the camera (84×84 RGB), its look drawn anew at every reset.
    "blendgym/BallBalancePixels-v0": {
        "env_class": "blendgym_envs.ball_balance:BallBalance",
        "max_episode_steps": 200,
        "reward_threshold": 150.0,
        "kwargs": {"obs_mode": "pixels", "randomize_look": True},
    },
    "blendgym/InvertedDoublePendulum-v0": {
        "env_class": "blendgym_envs.inverted_double_pendulum:InvertedDoublePendulum",
        "max_episode_steps": 1000,
        "reward_threshold": 9100.0,
    },
}


def register_envs() -> None:
    for env_id, entry in ENVS.items():
        if env_id in gymnasium.registry:
            continue
        gymnasium.register(
            env_id,
            entry_point=ENTRY_POINT,
            vector_entry_point=VECTOR_ENTRY_POINT,
            kwargs={"env_class": entry["env_class"], "env_id": env_id, **entry.get("kwargs", {})},
            max_episode_steps=entry["max_episode_steps"],
            reward_threshold=entry["reward_threshold"],
        )


def register_env(
    env_id: str,
    env_class: str,
    *,
    blend_file: str | os.PathLike[str] | None = None,
    max_episode_steps: int | None = None,
    reward_threshold: float | None = None,
    **kwargs: Any,
) -> None:
    """Register a Blender env of your own with gymnasium, for ``gymnasium.make`` and ``make_vec``.

    ``env_class`` is ``module:Class`` or ``path/file.py:Class``; ``blend_file`` is a scene file that Blender
    opens first (docs/envs.md, "Your own scenes"). Relative paths are resolved now, from the current
    directory, so the env works from anywhere afterwards. ``kwargs`` are default keywords of the env.
    """
    defaults: dict[str, Any] = {"env_class": resolve_env_class(env_class), "env_id": env_id, **kwargs}
    if blend_file is not None:
        defaults["blend_file"] = str(Path(blend_file).resolve())
    gymnasium.register(
        env_id,
        entry_point=ENTRY_POINT,
        vector_entry_point=VECTOR_ENTRY_POINT,
        kwargs=defaults,
        max_episode_steps=max_episode_steps,
        reward_threshold=reward_threshold,
    )
