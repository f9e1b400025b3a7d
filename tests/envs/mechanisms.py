"""Small mechanisms built with the physics toolkit (blendgym_blender.physics), for the physics checks in
tests/test_physics.py. Each episode's observation is the joint's coordinate and velocity and the body's
height and vertical velocity; the action is the joint's effort (N·m or N) in "effort" mode.

``scenario``:
- "link": a 0.1 × 0.02 × 0.02 m box of 0.5 kg turning about a vertical hinge through one end, no gravity;
- "pendulum": a 0.05 × 0.05 × 1 m rod of 1 kg hanging from a horizontal hinge through its top end;
- "slider": a 0.2 m cube of 2 kg on a horizontal slider, no gravity;
- "fall": a 0.2 m cube of 1 kg falling freely from 10 m.

Reset options: "state" ([coordinate, velocity] of the joint), and "mode" with "command", "limit",
"stiffness", "damping": the actuator for the whole episode ("effort" by default: the action is the effort).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from blendgym_blender import spaces
from blendgym_blender.env import SceneEnv
from blendgym_blender.physics import Articulation, Body, Hinge, Joint, Slider
from blendgym_envs import building


class Mechanism(SceneEnv):
    reset_options = frozenset({"state", "mode", "command", "limit", "stiffness", "damping"})

    def __init__(self, scenario: str = "link", substeps: int = 10, fps: int = 100) -> None:
        scene = building.empty_physics_scene(fps, substeps)
        super().__init__(scene)
        self.dt = 1.0 / fps
        scene.gravity = (0.0, 0.0, -9.81 if scenario in ("pendulum", "fall") else 0.0)
        anchor = building.add_box(scene, "Anchor", (0.05, 0.05, 0.05), (0.0, 0.0, 0.0), 1.0, "PASSIVE")
        building.keep_out_of_collisions(anchor)
        self.joint: Joint | None = None
        if scenario == "link":
            body = building.add_box(scene, "Link", (0.1, 0.02, 0.02), (0.05, 0.0, 0.0), 0.5, "ACTIVE")
            self.joint = Hinge(scene, "Joint", anchor, body, (0.0, 0.0, 0.0), (0.0, 0.0, 1.0), self.dt)
        elif scenario == "pendulum":
            body = building.add_box(scene, "Rod", (0.05, 0.05, 1.0), (0.0, 0.0, -0.5), 1.0, "ACTIVE")
            self.joint = Hinge(scene, "Joint", anchor, body, (0.0, 0.0, 0.0), (0.0, 1.0, 0.0), self.dt)
        elif scenario == "slider":
            body = building.add_box(scene, "Block", (0.2, 0.2, 0.2), (0.0, 0.0, 0.0), 2.0, "ACTIVE")
            self.joint = Slider(scene, "Joint", anchor, body, (0.0, 0.0, 0.0), (1.0, 0.0, 0.0), self.dt)
        elif scenario == "fall":
            body = building.add_box(scene, "Block", (0.2, 0.2, 0.2), (0.0, 0.0, 10.0), 1.0, "ACTIVE")
        else:
            raise ValueError(f"unknown scenario {scenario!r}")
        body.rigid_body.collision_collections = [False] * 20
        self.body = Body(body, self.dt)
        self.start_location = tuple(body.location)
        self.arm = Articulation([self.joint] if self.joint is not None else [])
        self.observation_space = spaces.Box(-np.inf, np.inf, (4,), np.float64)
        self.action_space = spaces.Box(-np.inf, np.inf, (1,), np.float64)
        self.mode: dict[str, Any] = {"mode": "effort"}

    def start_episode(self, options: dict[str, Any]) -> None:
        self.mode = {name: options[name] for name in ("mode", "command", "limit", "stiffness", "damping") if name in options}
        self.mode.setdefault("mode", "effort")
        if self.joint is None:
            self.body.obj.location = self.start_location
            self.body.obj.rotation_euler = (0.0, 0.0, 0.0)
        else:
            coordinate, velocity = options.get("state", (0.0, 0.0))
            self.arm.place([coordinate], [velocity])

    def launch_episode(self) -> None:
        if self.joint is None:
            self.body.restart(self.frame)
        else:
            self.arm.launch(self)
            self.body.restart(self.frame)

    def apply_action(self, action: Any) -> None:
        self.body.record(self.frame)
        if self.joint is not None:
            mode = self.mode["mode"]
            if mode == "effort":
                self.joint.set_effort(float(action[0]))
            elif mode == "velocity":
                self.joint.set_velocity(self.mode["command"], self.mode["limit"])
            elif mode == "target":
                self.joint.set_target(self.mode["command"], self.mode["stiffness"], self.mode["damping"], self.mode["limit"])
            self.arm.before_frame(self.frame)

    def observe(self) -> np.ndarray:
        self.body.record(self.frame)
        self.arm.record(self.frame)
        position = self.joint.position if self.joint is not None else 0.0
        velocity = self.joint.velocity if self.joint is not None else 0.0
        return np.array([position, velocity, self.body.position[2], self.body.linear_velocity[2]])

    def score(self, observation: np.ndarray) -> tuple[float, bool]:
        return 0.0, False
