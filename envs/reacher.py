"""Reacher simulated by Blender's rigid-body physics, with Gymnasium's Reacher-v5 semantics.

A two-link planar arm with two actuated hinges moves its fingertip to a random target. Built on the physics
toolkit (``blendgym_blender.physics``): the joints are ``Hinge``s in torque mode with joint damping, and
the start state is set exactly by an ``Articulation``. This file runs inside Blender.
"""

from __future__ import annotations

from typing import Any

import bpy
import numpy as np
from blendgym_blender import spaces
from blendgym_blender.env import SceneEnv, option_vector
from blendgym_blender.parameters import Parameter
from blendgym_blender.physics import Articulation, Hinge
from mathutils import Vector

from . import building

LINK_LENGTH = 0.1
LINK_WIDTH = 0.02
FINGERTIP = 0.11  # the fingertip's distance from the second joint, along the second link (Reacher-v5's)
TARGET_RADIUS = 0.2
HEIGHT = 0.01
SCENE_OBJECTS = ("Base", "Link0", "Link1", "Target")


class Reacher(SceneEnv):
    """A two-link arm on a table; move the fingertip to the target.

    Two links 0.1 m long turn in the horizontal plane about vertical hinges: ``joint0`` at the base (the
    origin) and ``joint1`` at the end of the first link; the fingertip lies 0.11 m along the second link from
    ``joint1``, and the target is a marker that takes no part in the physics. Gravity acts along the hinges,
    so it does not move the arm. A step is two frames of 0.01 s (0.02 s, as Reacher-v5's ``dt``), each
    simulated by Bullet with ``substeps`` substeps (4 by default).

    The links are boxes of ``link_mass`` (0.5 kg). The actuators are the hinges in torque mode: action *a*
    applies ``gear[i] · a`` N·m. The gears (0.6 and 0.075 N·m) give each joint, driven alone from rest with
    the arm straight, about 200 rad/s², and the joint damping (0.003 and 0.000375 N·m·s/rad) slows it at
    about 1/s, as in MuJoCo's Reacher (gear 200, armature 1, damping 1). What differs: MuJoCo's armature
    (rotor inertia 1 kg·m² per joint, far above the links') nearly decouples the joints, while here the
    links' own inertia couples them, as in a real arm (driving joint0 alone turns joint1 the other way at 2.5×
    its acceleration, driving joint1 alone turns joint0 back at 0.3×); ``joint1`` is not limited (Reacher-v5 limits it to
    ±3 rad, which its policies do not reach).

    ## Action space
    ``Box(-1, 1, (2,), float32)``: the torques of ``joint0`` and ``joint1``, as fractions of their gears.

    ## Observation space
    ``Box(10,)`` float64, as Reacher-v5's:

    | index | observation | unit |
    |---|---|---|
    | 0, 1 | cos of joint0's and joint1's angles | |
    | 2, 3 | sin of joint0's and joint1's angles | |
    | 4, 5 | the target's x and y | m |
    | 6, 7 | joint0's and joint1's angular velocities | rad/s |
    | 8, 9 | fingertip − target, x and y | m |

    ## Reward
    ``-‖fingertip − target‖ − ‖a‖²`` (Reacher-v5's defaults, ``reward_dist_weight=1``, ``reward_control_weight=1``);
    ``info`` has both terms (``reward_dist``, ``reward_ctrl``).

    ## Starting state
    Both joint angles uniform in [-0.1, 0.1] rad and velocities uniform in [-0.005, 0.005] rad/s; the target
    uniform in the disc of radius 0.2 m (drawn in the square [-0.2, 0.2]² until inside), as in Reacher-v5.
    ``reset(options={"state": [q0, q1, q0_dot, q1_dot], "target": [x, y]})`` sets them exactly.

    ## Episode end
    Never terminated; registered as ``blendgym/Reacher-v0`` with ``max_episode_steps=50`` (truncation) and
    ``reward_threshold=-3.75``, Reacher-v5's.

    ## Parameters
    Set by ``reset(options={name: value})``, ``set_attr`` or ``call``; drawn at every reset from their ranges
    when listed in ``reset(options={"randomize": [...]})`` (docs/envs.md). Physics parameters take effect at
    the next reset, colours at once.

    | name | kind | default | range | meaning |
    |---|---|---|---|---|
    | link_mass | float | 0.5 | [0.1, 2] | mass of each link (kg); the gears and damping keep their values |
    | gear_scale | float | 1 | [0.25, 4] | scales both gears |
    | joint_damping_scale | float | 1 | [0, 4] | scales both joints' damping |
    | arm_colour | colour | (0.7, 0.7, 0.0) | [0, 1]³ | linear RGB |
    | target_colour | colour | (0.9, 0.2, 0.2) | [0, 1]³ | linear RGB |
    | table_colour | colour | (0.6, 0.6, 0.6) | [0, 1]³ | linear RGB |
    """

    fps = 100
    frame_skip = 2
    gears = (0.6, 0.075)
    joint_damping = (0.003, 0.000375)
    parameters = {
        "link_mass": Parameter("float", 0.5, "mass of each link (kg); the gears and damping keep their values", 0.1, 2.0),
        "gear_scale": Parameter("float", 1.0, "scales both gears", 0.25, 4.0),
        "joint_damping_scale": Parameter("float", 1.0, "scales both joints' damping", 0.0, 4.0),
        "arm_colour": Parameter("colour", (0.7, 0.7, 0.0), "linear RGB"),
        "target_colour": Parameter("colour", (0.9, 0.2, 0.2), "linear RGB"),
        "table_colour": Parameter("colour", (0.6, 0.6, 0.6), "linear RGB"),
    }
    reset_options = frozenset({"state", "target"})

    def __init__(self, substeps: int = 4) -> None:
        scene = building.empty_physics_scene(self.fps, substeps)
        super().__init__(scene)
        self.dt = 1.0 / self.fps
        scene.gravity = (0.0, 0.0, -9.81)
        base = building.add_box(scene, "Base", (0.04, 0.04, 0.02), (0.0, 0.0, HEIGHT), 1.0, "PASSIVE")
        building.keep_out_of_collisions(base)
        self.links = []
        for index in range(2):
            link = building.add_box(
                scene, f"Link{index}", (LINK_LENGTH, LINK_WIDTH, LINK_WIDTH), (LINK_LENGTH * (index + 0.5), 0.0, HEIGHT), 0.5, "ACTIVE"
            )
            link.rigid_body.collision_collections = [False] * 20
            self.links.append(link)
        self.joints = [
            Hinge(scene, "joint0", base, self.links[0], (0.0, 0.0, HEIGHT), (0.0, 0.0, 1.0), self.dt),
            Hinge(scene, "joint1", self.links[0], self.links[1], (LINK_LENGTH, 0.0, HEIGHT), (0.0, 0.0, 1.0), self.dt),
        ]
        self.arm = Articulation(self.joints)
        self.target = bpy.data.objects.new("Target", building.box_mesh("Target", (0.02, 0.02, 0.02)))
        scene.collection.objects.link(self.target)
        table = bpy.data.objects.new("Table", building.box_mesh("Table", (0.6, 0.6, 0.01)))
        table.location = (0.0, 0.0, -0.005)
        scene.collection.objects.link(table)
        for obj, colour in (
            (base, (0.1, 0.1, 0.1)),
            (self.links[0], (0.7, 0.7, 0.0)),
            (self.links[1], (0.7, 0.7, 0.0)),
            (self.target, (0.9, 0.2, 0.2)),
            (table, (0.6, 0.6, 0.6)),
        ):
            building.paint(obj, (*colour, 1.0))
        self.table = table
        building.add_camera(scene, (0.0, 0.0, 0.75), (0.0, 0.0, 0.0))
        building.light_and_sky(scene)
        self.observation_space = spaces.Box(-np.inf, np.inf, (10,), np.float64)
        self.action_space = spaces.Box(-1.0, 1.0, (2,), np.float32)
        self.action = np.zeros(2)
        self.terms: dict[str, float] = {}

    # Parameters ---------------------------------------------------------------------------------------------

    def apply_parameters(self, changed: dict[str, Any]) -> None:
        # Masses are read by start_episode: a rigid-body edit mid-episode would restart the simulation.
        if "arm_colour" in changed:
            for link in self.links:
                link.active_material.diffuse_color = (*changed["arm_colour"], 1.0)
        if "target_colour" in changed:
            self.target.active_material.diffuse_color = (*changed["target_colour"], 1.0)
        if "table_colour" in changed:
            self.table.active_material.diffuse_color = (*changed["table_colour"], 1.0)

    # SceneEnv hooks ---------------------------------------------------------------------------------------

    def start_episode(self, options: dict[str, Any]) -> None:
        for link in self.links:
            link.rigid_body.mass = self.params["link_mass"]
        for joint, damping in zip(self.joints, self.joint_damping, strict=True):
            joint.damping = damping * self.params["joint_damping_scale"]
        if "state" in options:
            state = option_vector(options, "state", 4, "[q0, q1, q0_dot, q1_dot]")
        else:
            state = np.concatenate([self.np_random.uniform(-0.1, 0.1, 2), self.np_random.uniform(-0.005, 0.005, 2)])
        if "target" in options:
            target = option_vector(options, "target", 2, "[x, y]")
        else:
            while True:
                target = self.np_random.uniform(-TARGET_RADIUS, TARGET_RADIUS, 2)
                if np.linalg.norm(target) < TARGET_RADIUS:
                    break
        self.target.location = (float(target[0]), float(target[1]), HEIGHT)
        self.arm.place(state[:2], state[2:])
        self.action = np.zeros(2)
        self.terms = {}

    def launch_episode(self) -> None:
        self.arm.launch(self)

    def apply_action(self, action: Any) -> None:
        self.action = np.clip(np.asarray(action, dtype=np.float64), -1.0, 1.0)
        scale = self.params["gear_scale"]
        for joint, gear, fraction in zip(self.joints, self.gears, self.action, strict=True):
            joint.set_effort(gear * scale * float(fraction))
        self.arm.before_frame(self.frame)

    def fingertip(self) -> np.ndarray:
        return np.array(self.links[1].matrix_world @ Vector((FINGERTIP - LINK_LENGTH / 2, 0.0, 0.0)))[:2]

    def observe(self) -> np.ndarray:
        self.arm.record(self.frame)
        angles = self.arm.positions
        target = np.array(self.target.location)[:2]
        return np.concatenate([np.cos(angles), np.sin(angles), target, self.arm.velocities, self.fingertip() - target])

    def score(self, observation: np.ndarray) -> tuple[float, bool]:
        reward_dist = -float(np.linalg.norm(observation[8:10]))
        reward_ctrl = -float(np.square(self.action).sum())
        self.terms = {"reward_dist": reward_dist, "reward_ctrl": reward_ctrl}
        return reward_dist + reward_ctrl, False

    def info(self) -> dict[str, Any]:
        return dict(self.terms)
