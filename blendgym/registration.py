"""The env ids blendgym registers with gymnasium on ``import blendgym``."""

from __future__ import annotations

from typing import Any

import gymnasium

ENTRY_POINT = "blendgym.env:BlenderEnv"
VECTOR_ENTRY_POINT = "blendgym.vector:BlenderVectorEnv"

ENVS: dict[str, dict[str, Any]] = {
    "blendgym/CartPole-v0": {
        "env_class": "blendgym_envs.cartpole:CartPole",
        "max_episode_steps": 500,
        "reward_threshold": 475.0,
    },
    "blendgym/Pendulum-v0": {
        "env_class": "blendgym_envs.pendulum:Pendulum",
        "max_episode_steps": 200,
        "reward_threshold": -400.0,
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
            kwargs={"env_class": entry["env_class"], "env_id": env_id},
            max_episode_steps=entry["max_episode_steps"],
            reward_threshold=entry["reward_threshold"],
        )
