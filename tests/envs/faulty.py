"""A Blender-side test env that fails on demand, loaded from its file path as a user's env would be.

A falling ball; each step advances ``frame_skip`` frames. Actions: 0 steps normally, 1 raises inside
Blender, 2 kills the process, 3 hangs, 4 steps slowly (half a second). ``fail_on_build=True`` raises in the
constructor; ``build_seconds`` makes building slow and ``stamp_dir`` records when each instance's build
began and ended. ``scale`` is a remotely settable attribute, and ``height`` and ``engine_for`` remotely callable
methods.
"""

from __future__ import annotations

import os
import time
from typing import Any

import bpy
import numpy as np

from blendgym_blender import remote, spaces
from blendgym_blender.env import SceneEnv
from blendgym_blender.render import engine_name


class Faulty(SceneEnv):
    frame_skip = 3

    scale = 1.0
    remote_attributes = ("scale",)

    def __init__(self, fail_on_build: bool = False, build_seconds: float = 0.0, stamp_dir: str | None = None) -> None:
        began = time.time()
        if fail_on_build:
            raise RuntimeError("the scene could not be built")
        time.sleep(build_seconds)
        bpy.ops.wm.read_factory_settings(use_empty=True)
        bpy.ops.rigidbody.world_add()
        super().__init__(bpy.context.scene)
        bpy.ops.mesh.primitive_cube_add(size=0.2, location=(0, 0, 10))
        self.ball = bpy.context.active_object
        bpy.ops.rigidbody.object_add()
        self.observation_space = spaces.Box(-np.inf, np.inf, (1,), np.float32)
        self.action_space = spaces.Discrete(5)
        if stamp_dir is not None:
            with open(os.path.join(stamp_dir, f"{os.getpid()}.txt"), "w") as stamp:
                stamp.write(f"{began} {time.time()}")

    def start_episode(self, options: dict[str, Any]) -> None:
        self.ball.location = (0.0, 0.0, float(options.get("height", 10.0)) + self.np_random.uniform(0.0, 1.0))

    def apply_action(self, action: Any) -> None:
        if action == 1:
            raise RuntimeError("boom from inside Blender")
        if action == 2:
            os._exit(3)
        if action == 3:
            time.sleep(3600)
        if action == 4:
            time.sleep(0.5)

    @remote
    def engine_for(self, kind: str) -> str:
        """Set the scene's render engine for renderer ``kind`` as blendgym picks it, and read back what Blender took."""
        self.scene.render.engine = engine_name(kind)
        return str(self.scene.render.engine)

    @remote
    def height(self, times: float = 1.0) -> float:
        return float(self.ball.matrix_world.translation[2]) * self.scale * times

    def not_remote(self) -> None:
        """Not marked @remote: hosts cannot call it."""

    def observe(self) -> np.ndarray:
        return np.array([self.ball.matrix_world.translation[2]], dtype=np.float32)

    def score(self, observation: np.ndarray) -> tuple[float, bool]:
        return 0.0, False

    def info(self) -> dict[str, Any]:
        return {"frame": self.frame}
