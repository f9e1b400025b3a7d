"""Stable-Baselines3's ``VecEnv`` over a pool of Blender processes.

``make_vec_env("blendgym/CartPole-v0", n_envs=4)`` is the one call SB3 users need. Import this module only
where stable-baselines3 is installed (``pip install "blendgym[train]"``); the rest of blendgym does not need it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import gymnasium
import numpy as np
from gymnasium.vector import AutoresetMode
from stable_baselines3.common.vec_env import VecEnv, VecMonitor
from stable_baselines3.common.vec_env.base_vec_env import VecEnvIndices, VecEnvObs, VecEnvStepReturn

from .vector import HOST_ATTRIBUTES, BlenderVectorEnv


def make_vec_env(env_id: str, n_envs: int = 2, *, seed: int | None = None, monitor: bool = True, **kwargs: Any) -> VecEnv:
    """An SB3 VecEnv of ``n_envs`` Blender processes running the blendgym env ``env_id``.

    ``seed`` seeds the first reset (env ``i`` gets ``seed + i``); ``monitor`` wraps it in ``VecMonitor`` so
    that SB3 logs episode returns and lengths; other keywords go to ``BlenderVectorEnv`` (``blender=``,
    ``timeout=``, ``max_restarts=``, ...) and on to the env (``force_mag=``, ...).
    """
    vector_env = gymnasium.make_vec(
        env_id, num_envs=n_envs, vectorization_mode="vector_entry_point", autoreset_mode=AutoresetMode.SAME_STEP, **kwargs
    )
    if not isinstance(vector_env, BlenderVectorEnv):
        raise TypeError(f"{env_id} is not a blendgym env: its vector entry point made a {type(vector_env).__name__}")
    venv: VecEnv = BlenderVecEnv(vector_env)
    if seed is not None:
        venv.seed(seed)
    return VecMonitor(venv) if monitor else venv


class BlenderVecEnv(VecEnv):
    """SB3's VecEnv interface to a ``BlenderVectorEnv`` in ``SAME_STEP`` autoreset mode.

    As SB3's own VecEnvs: ``step`` returns ``(obs, rewards, dones, infos)``; a finished episode's last
    observation is ``infos[i]["terminal_observation"]`` and ``infos[i]["TimeLimit.truncated"]`` tells a
    truncation from a termination; ``reset_infos`` holds the reset infos; ``seed()`` and ``set_options()``
    apply to the next ``reset()``. A restarted Blender process shows as ``infos[i]["blender_restart"]`` on a
    truncated episode. ``get_attr``, ``set_attr`` and ``env_method`` reach the Blender-side envs.
    """

    def __init__(self, vector_env: BlenderVectorEnv) -> None:
        if vector_env.autoreset_mode != AutoresetMode.SAME_STEP:
            raise ValueError(f"{vector_env.env_id}: SB3 needs autoreset_mode=SAME_STEP, got {vector_env.autoreset_mode}")
        if vector_env.batch_size != vector_env.num_envs:
            raise ValueError(f"{vector_env.env_id}: SB3 steps every env at once; make the vector env with batch_size=None")
        self.vector_env = vector_env
        super().__init__(vector_env.num_envs, vector_env.single_observation_space, vector_env.single_action_space)

    def reset(self) -> VecEnvObs:
        observations, self.reset_infos = self.vector_env._reset_each(self._seeds, [options or None for options in self._options])
        self._reset_seeds()
        self._reset_options()
        return observations

    def step_async(self, actions: np.ndarray) -> None:
        self.vector_env.send(actions)

    def step_wait(self) -> VecEnvStepReturn:
        _, observations, results = self.vector_env._recv_each()
        rewards = np.array([result.reward for result in results], dtype=np.float32)
        dones = np.array([result.terminated or result.truncated for result in results], dtype=bool)
        infos: list[dict[str, Any]] = []
        for index, (result, done) in enumerate(zip(results, dones, strict=True)):
            if done:
                info = {**(result.final_info or {}), "terminal_observation": result.final_obs}
                self.reset_infos[index] = result.info
            else:
                info = dict(result.info)
            info["TimeLimit.truncated"] = result.truncated and not result.terminated
            infos.append(info)
        return observations, rewards, dones, infos

    def close(self) -> None:
        self.vector_env.close()

    def get_attr(self, attr_name: str, indices: VecEnvIndices = None) -> list[Any]:
        chosen = list(self._get_indices(indices))
        if attr_name in HOST_ATTRIBUTES:
            return [self.vector_env._host_attribute(attr_name) for _ in chosen]
        values = self.vector_env._attribute_requests({index: {"get": attr_name} for index in chosen})
        return [values[index] for index in chosen]

    def set_attr(self, attr_name: str, value: Any, indices: VecEnvIndices = None) -> None:
        self.vector_env._attribute_requests({index: {"set": attr_name, "value": value} for index in self._get_indices(indices)})

    def env_method(self, method_name: str, *method_args: Any, indices: VecEnvIndices = None, **method_kwargs: Any) -> list[Any]:
        chosen = list(self._get_indices(indices))
        request = {"call": method_name, "args": method_args, "kwargs": method_kwargs}
        values = self.vector_env._attribute_requests({index: request for index in chosen})
        return [values[index] for index in chosen]

    def env_is_wrapped(self, wrapper_class: type[gymnasium.Wrapper[Any, Any, Any, Any]], indices: VecEnvIndices = None) -> list[bool]:
        return [False for _ in self._get_indices(indices)]  # The sub-envs live in Blender, unwrapped.

    def get_images(self) -> Sequence[np.ndarray | None]:
        images = self.vector_env.render()
        return list(images) if images is not None else [None] * self.num_envs
