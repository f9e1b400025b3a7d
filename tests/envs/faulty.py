"""A Blender-side test env that fails on demand, loaded from its file path as a user's env would be.

A falling ball; each step advances ``frame_skip`` frames. Actions: 0 steps normally, 1 raises inside
Blender, 2 kills the process, 3 hangs. ``fail_on_build=True`` raises in the constructor.
"""

from __future__ import annotations

import os
import time
from typing import Any

import bpy
import numpy as np

from blendgym_blender import spaces
from blendgym_blender.env import SceneEnv


class Faulty(SceneEnv):
    frame_skip = 3

    def __init__(self, fail_on_build: bool = False) -> None:
        if fail_on_build:
            raise RuntimeError("the scene could not be built")
        bpy.ops.wm.read_factory_settings(use_empty=True)
        bpy.ops.rigidbody.world_add()
        super().__init__(bpy.context.scene)
        bpy.ops.mesh.primitive_cube_add(size=0.2, location=(0, 0, 10))
        self.ball = bpy.context.active_object
        bpy.ops.rigidbody.object_add()
        self.observation_space = spaces.Box(-np.inf, np.inf, (1,), np.float32)
        self.action_space = spaces.Discrete(4)

    def start_episode(self, options: dict[str, Any]) -> None:
        self.ball.location = (0.0, 0.0, float(options.get("height", 10.0)) + self.np_random.uniform(0.0, 1.0))

    def apply_action(self, action: Any) -> None:
        if action == 1:
            raise RuntimeError("boom from inside Blender")
        if action == 2:
            os._exit(3)
        if action == 3:
            time.sleep(3600)

    def observe(self) -> np.ndarray:
        return np.array([self.ball.matrix_world.translation[2]], dtype=np.float32)

    def score(self, observation: np.ndarray) -> tuple[float, bool]:
        return 0.0, False

    def info(self) -> dict[str, Any]:
        return {"frame": self.frame}
