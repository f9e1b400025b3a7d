"""Small mechanisms built with the physics toolkit (blendgym_blender.physics), for the physics checks in
tests/test_physics.py. Each observation is the joints' coordinates, then their velocities, then the last
body's height and vertical velocity, then its x and velocity along x; the action is the first joint's effort
(N·m or N) in "effort" mode.

``scenario``:
- "link": a 0.1 × 0.02 × 0.02 m box of 0.5 kg turning about a vertical hinge through one end, no gravity;
- "pendulum": a 0.05 × 0.05 × 1 m rod of 1 kg hanging from a horizontal hinge through its top end;
- "double": two 0.05 × 0.05 × 0.5 m rods of 1 kg, the second hinged to the first's lower end, both hinges
  about y (a double pendulum; joint 1's coordinate is relative to rod 0);
- "slider": a 0.2 m cube of 2 kg on a horizontal slider, no gravity;
- "fall": a 0.2 m cube of 1 kg falling freely from 10 m;
- "slide": a 0.1 m cube of 1 kg and friction 0.5 resting on a table of friction 1 (margins 1 mm), which
  Bullet combines into a coefficient of 0.5;
- "roll": a ball (radius 4 cm, 0.1 kg, friction 0.5) resting on a table of friction 1 inclined by 0.2 rad
  about y, its surface through the origin and descending towards +x (margins 1 mm).
``limits`` (lower, upper) gives the link's hinge or the slider stops.

Reset options: "state" ([coordinates..., velocities...] of the joints), "velocity" (the start velocity
[vx, vy, vz] of "fall" and "slide"'s cube, "roll"'s ball), and "mode" with "command", "limit", "stiffness", "damping": the
first joint's actuator for the whole episode ("effort" by default: the action is the effort). ``contact``
(remote) says where the last body touches the table or anchor.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from blendgym_blender import remote, spaces
from blendgym_blender.env import SceneEnv
from blendgym_blender.physics import Articulation, Body, Hinge, Joint, Slider, launch, touching
from blendgym_envs import building

INCLINE = 0.2  # rad, the "roll" scenario's table


class Mechanism(SceneEnv):
    reset_options = frozenset({"state", "velocity", "mode", "command", "limit", "stiffness", "damping"})

    def __init__(self, scenario: str = "link", substeps: int = 10, fps: int = 100, limits: list[float] | None = None) -> None:
        scene = building.empty_physics_scene(fps, substeps)
        super().__init__(scene)
        self.dt = 1.0 / fps
        scene.gravity = (0.0, 0.0, -9.81 if scenario in ("pendulum", "double", "fall", "slide", "roll") else 0.0)
        if scenario == "slide":
            anchor = building.add_box(scene, "Table", (4.0, 1.0, 0.1), (1.0, 0.0, -0.05), 1.0, "PASSIVE", friction=1.0, margin=0.001)
        elif scenario == "roll":
            normal = (math.sin(INCLINE), 0.0, math.cos(INCLINE))
            anchor = building.add_box(scene, "Table", (4.0, 1.0, 0.1), tuple(-0.05 * n for n in normal), 1.0, "PASSIVE", friction=1.0, margin=0.001)
            anchor.rotation_euler = (0.0, INCLINE, 0.0)
        else:
            anchor = building.add_box(scene, "Anchor", (0.05, 0.05, 0.05), (0.0, 0.0, 0.0), 1.0, "PASSIVE")
            building.keep_out_of_collisions(anchor)
        self.anchor = anchor
        stops = (limits[0], limits[1]) if limits is not None else None
        joints: list[Joint] = []
        if scenario == "link":
            body = building.add_box(scene, "Link", (0.1, 0.02, 0.02), (0.05, 0.0, 0.0), 0.5, "ACTIVE")
            joints.append(Hinge(scene, "Joint", anchor, body, (0.0, 0.0, 0.0), (0.0, 0.0, 1.0), self.dt, limits=stops))
        elif scenario == "pendulum":
            body = building.add_box(scene, "Rod", (0.05, 0.05, 1.0), (0.0, 0.0, -0.5), 1.0, "ACTIVE")
            joints.append(Hinge(scene, "Joint", anchor, body, (0.0, 0.0, 0.0), (0.0, 1.0, 0.0), self.dt))
        elif scenario == "double":
            parent = anchor
            for index in range(2):
                body = building.add_box(scene, f"Rod{index}", (0.05, 0.05, 0.5), (0.0, 0.0, -0.5 * index - 0.25), 1.0, "ACTIVE")
                body.rigid_body.collision_collections = [False] * 20
                joints.append(Hinge(scene, f"Joint{index}", parent, body, (0.0, 0.0, -0.5 * index), (0.0, 1.0, 0.0), self.dt))
                parent = body
        elif scenario == "slider":
            body = building.add_box(scene, "Block", (0.2, 0.2, 0.2), (0.0, 0.0, 0.0), 2.0, "ACTIVE")
            joints.append(Slider(scene, "Joint", anchor, body, (0.0, 0.0, 0.0), (1.0, 0.0, 0.0), self.dt, limits=stops))
        elif scenario == "fall":
            body = building.add_box(scene, "Block", (0.2, 0.2, 0.2), (0.0, 0.0, 10.0), 1.0, "ACTIVE")
        elif scenario == "slide":
            body = building.add_box(scene, "Block", (0.1, 0.1, 0.1), (0.0, 0.0, 0.05), 1.0, "ACTIVE", friction=0.5, margin=0.001)
        elif scenario == "roll":
            centre = tuple(0.04 * n for n in normal)
            body = building.add_body(scene, "Ball", building.sphere_mesh("Ball", 0.04), centre, 0.1, "ACTIVE", "SPHERE", friction=0.5, margin=0.001)
        else:
            raise ValueError(f"unknown scenario {scenario!r}")
        if scenario not in ("slide", "roll"):
            body.rigid_body.collision_collections = [False] * 20
        self.body = Body(body, self.dt)
        self.start_location = tuple(body.location)
        self.joints = joints
        self.arm = Articulation(joints)
        self.observation_space = spaces.Box(-np.inf, np.inf, (2 * len(joints) + 4,), np.float64)
        self.action_space = spaces.Box(-np.inf, np.inf, (1,), np.float64)
        self.mode: dict[str, Any] = {"mode": "effort"}

    def start_episode(self, options: dict[str, Any]) -> None:
        self.mode = {name: options[name] for name in ("mode", "command", "limit", "stiffness", "damping") if name in options}
        self.mode.setdefault("mode", "effort")
        if not self.joints:
            self.body.place(self.start_location, options.get("velocity", (0.0, 0.0, 0.0)), rotation=(0.0, 0.0, 0.0))
        else:
            state = options.get("state", [0.0] * (2 * len(self.joints)))
            self.arm.place(state[: len(self.joints)], state[len(self.joints) :])

    def launch_episode(self) -> None:
        if self.joints:
            self.arm.launch(self)
            self.body.restart(self.frame)
        else:
            launch(self, bodies=[self.body])

    def apply_action(self, action: Any) -> None:
        self.body.record(self.frame)
        if self.joints:
            joint, mode = self.joints[0], self.mode["mode"]
            if mode == "effort":
                joint.set_effort(float(action[0]))
            elif mode == "velocity":
                joint.set_velocity(self.mode["command"], self.mode["limit"])
            elif mode == "target":
                joint.set_target(self.mode["command"], self.mode["stiffness"], self.mode["damping"], self.mode["limit"])
            self.arm.before_frame(self.frame)

    def observe(self) -> np.ndarray:
        self.body.record(self.frame)
        self.arm.record(self.frame)
        position, velocity = self.body.position, self.body.linear_velocity
        return np.concatenate([self.arm.positions, self.arm.velocities, [position[2], velocity[2], position[0], velocity[0]]])

    def score(self, observation: np.ndarray) -> tuple[float, bool]:
        return 0.0, False

    @remote
    def contact(self, tolerance: float) -> list[float] | None:
        point = touching(self.body.obj, self.anchor, tolerance)
        return None if point is None else point.tolist()
