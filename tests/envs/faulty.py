"""A Blender-side test env that fails on demand, loaded from its file path as a user's env would be.

A falling ball; each step advances ``frame_skip`` frames. Actions: 0 steps normally, 1 raises inside
Blender, 2 kills the process, 3 hangs (touching ``signal_dir``/hanging first, when given), 4 waits until the
file ``signal_dir``/release exists. ``fail_on_build=True`` raises in the constructor. With ``builders=N`` and a
``signal_dir``, each instance announces itself there while building and waits until N instances have: the
builds can only finish if they run at the same time. ``scale`` is a remotely settable attribute, and
``height`` and ``engine_for`` remotely callable methods.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
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

    # How long a build waits for the other builders, or a step for its release file: only a guard against
    # a test that hangs, far longer than any machine needs.
    GUARD_SECONDS = 120.0

    def __init__(self, fail_on_build: bool = False, builders: int = 0, signal_dir: str | None = None) -> None:
        if fail_on_build:
            raise RuntimeError("the scene could not be built")
        self.signal_dir = Path(signal_dir) if signal_dir is not None else None
        if builders:
            assert self.signal_dir is not None, "builders= needs a signal_dir"
            (self.signal_dir / f"builder-{os.getpid()}").touch()
            self.wait_for(lambda: len(list(self.signal_dir.glob("builder-*"))) >= builders, f"{builders} builders at once")
        bpy.ops.wm.read_factory_settings(use_empty=True)
        bpy.ops.rigidbody.world_add()
        super().__init__(bpy.context.scene)
        bpy.ops.mesh.primitive_cube_add(size=0.2, location=(0, 0, 10))
        self.ball = bpy.context.active_object
        bpy.ops.rigidbody.object_add()
        self.observation_space = spaces.Box(-np.inf, np.inf, (1,), np.float32)
        self.action_space = spaces.Discrete(5)

    def wait_for(self, condition: Any, what: str) -> None:
        deadline = time.monotonic() + self.GUARD_SECONDS
        while not condition():
            if time.monotonic() > deadline:
                raise RuntimeError(f"waited {self.GUARD_SECONDS:.0f} s for {what}")
            time.sleep(0.01)

    def start_episode(self, options: dict[str, Any]) -> None:
        self.ball.location = (0.0, 0.0, float(options.get("height", 10.0)) + self.np_random.uniform(0.0, 1.0))

    def apply_action(self, action: Any) -> None:
        if action == 1:
            raise RuntimeError("boom from inside Blender")
        if action == 2:
            os._exit(3)
        if action == 3:
            if self.signal_dir is not None:
                (self.signal_dir / "hanging").touch()
            time.sleep(3600)
        if action == 4:
            assert self.signal_dir is not None, "action 4 needs a signal_dir"
            self.wait_for((self.signal_dir / "release").exists, "the release file")

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


class Spaceless(SceneEnv):
    """An env that forgets its action space: its start-up error must say so."""

    def __init__(self) -> None:
        super().__init__(bpy.context.scene)
        self.observation_space = spaces.Box(-1.0, 1.0, (1,), np.float32)

    def start_episode(self, options: dict[str, Any]) -> None:
        pass

    def apply_action(self, action: Any) -> None:
        pass

    def observe(self) -> np.ndarray:
        return np.zeros(1, np.float32)

    def score(self, observation: np.ndarray) -> tuple[float, bool]:
        return 0.0, False


class Unseeded(Faulty):
    """A Faulty whose start height ignores the seed (drawn from numpy's global generator): the conformance
    check must catch it."""

    def start_episode(self, options: dict[str, Any]) -> None:
        self.ball.location = (0.0, 0.0, 10.0 + np.random.uniform(0.0, 1.0))  # unseeded on purpose
