"""blendgym envs on Ray RLlib's env runners, each runner with a pool of Blender processes on its own node.

Needs the ``rllib`` extra (``pip install "blendgym[rllib]"``); docs/scale.md says how to run it on a cluster.
On RLlib's new API stack::

    import blendgym.rllib
    from ray.rllib.algorithms.ppo import PPOConfig

    blendgym.rllib.register_envs()
    config = (
        PPOConfig()
        .environment("blendgym/CartPole-v0")
        .env_runners(num_env_runners=2, num_envs_per_env_runner=2, gym_env_vectorize_mode="vector_entry_point")
        .fault_tolerance(restart_failed_sub_environments=True)
        .callbacks(blendgym.rllib.BlenderMetrics)
    )

With ``gym_env_vectorize_mode="vector_entry_point"`` each runner makes one ``BlenderVectorEnv``: its
``num_envs_per_env_runner`` Blender processes run on the runner's node. Faults are handled in layers:

1. a Blender that dies or hangs is restarted inside the pool; that sub-env's episode ends truncated
   (``info["blender_restart"]``; a Blender lost between episodes shows in the next reset's info instead)
   and the runner's other sub-envs go on undisturbed. ``BlenderMetrics`` counts these restarts in the
   runner's metrics (``blender_restarts``);
2. a sub-env that fails more than ``max_restarts`` times within ``restart_window`` seconds raises RLlib's
   ``StepFailedRecreateEnvError``: with ``restart_failed_sub_environments=True`` RLlib closes the pool and
   makes a new one; without it, the runner fails, and
3. a failed runner actor is restarted by RLlib (``restart_failed_env_runners``, on by default). Its Blender
   processes end with it: blendgym's janitor ends them when the actor's process exits, even by SIGKILL.
"""

from __future__ import annotations

import functools
import logging
from typing import Any

import gymnasium
from gymnasium.envs.registration import EnvSpec
from gymnasium.vector import VectorEnv, VectorWrapper
from ray.rllib.callbacks.callbacks import RLlibCallback
from ray.rllib.env.env_errors import StepFailedRecreateEnvError
from ray.tune.registry import register_env

from .episodes import RESTART_INFO
from .errors import BlenderRestartLimitError
from .registration import ENTRY_POINT

RESTARTS_METRIC = "blender_restarts"
logger = logging.getLogger(__name__)

__all__ = ["BlenderMetrics", "RestartLimitToRecreate", "make_env", "register_envs"]


def register_envs(*env_ids: str) -> list[str]:
    """Register blendgym env ids with Ray Tune under their own names, so that ``config.environment(env_id)``
    accepts them. Without arguments: every id registered with gymnasium whose entry point is blendgym's (its
    own, and those of ``blendgym.register_env`` called before this). Returns the ids registered.

    Each id's gymnasium spec travels with the env creator to the runners, so ids registered in this process
    only work on every node."""
    ids = list(env_ids) or [env_id for env_id, spec in gymnasium.registry.items() if spec.entry_point == ENTRY_POINT]
    for env_id in ids:
        register_env(env_id, functools.partial(make_env, gymnasium.spec(env_id)))
    return ids


def make_env(spec: EnvSpec, config: dict[str, Any]) -> gymnasium.Env[Any, Any] | VectorEnv[Any, Any, Any]:
    """RLlib's env creator for ``spec``: with ``num_envs`` in ``config`` (RLlib's ``vector_entry_point`` mode)
    a ``BlenderVectorEnv`` of that many Blender processes, else one ``BlenderEnv``. The other entries of
    ``config`` (RLlib's ``env_config``) are the env's keywords.

    Runners that share a node cannot see each other's placement, so their Blender processes are left to the
    OS (``cpu_affinity=None``) unless ``env_config`` says otherwise."""
    kwargs = {"cpu_affinity": None, **config}
    num_envs = kwargs.pop("num_envs", None)
    if num_envs is None:
        return gymnasium.make(spec, **kwargs)
    envs = gymnasium.make_vec(spec, num_envs=num_envs, vectorization_mode="vector_entry_point", **kwargs)
    return RestartLimitToRecreate(envs)


class RestartLimitToRecreate(VectorWrapper):
    """Turns a pool's ``BlenderRestartLimitError`` in ``step`` into RLlib's ``StepFailedRecreateEnvError``,
    which asks the runner to make its env anew (layer 2 in this module's docstring). RLlib logs nothing for
    that error, so the reason is logged here. (A failing ``reset`` makes RLlib recreate the env whatever
    the error.)"""

    def step(self, actions: Any) -> tuple[Any, Any, Any, Any, dict[str, Any]]:
        try:
            return self.env.step(actions)
        except BlenderRestartLimitError as error:
            logger.warning("%s\nRLlib makes this runner a new pool of Blender processes.", error)
            raise StepFailedRecreateEnvError(str(error)) from error


class BlenderMetrics(RLlibCallback):
    """Counts, in each runner's metrics, the Blender restarts its episodes saw (``blender_restarts``, summed
    over the run: ``result["env_runners"]["blender_restarts"]``): an episode that a restart ended, and an
    episode whose reset a restarted process answered (the process died between episodes)."""

    def on_episode_start(self, *, episode: Any, metrics_logger: Any = None, **kwargs: Any) -> None:
        self._count(metrics_logger, RESTART_INFO in episode.get_infos(0))

    def on_episode_end(self, *, episode: Any, metrics_logger: Any = None, **kwargs: Any) -> None:
        self._count(metrics_logger, RESTART_INFO in episode.get_infos(-1))

    @staticmethod
    def _count(metrics_logger: Any, restarted: bool) -> None:
        if metrics_logger is not None:
            metrics_logger.log_value(RESTARTS_METRIC, int(restarted), reduce="lifetime_sum")
