"""Pusher simulated by Blender's rigid-body physics, with Gymnasium's Pusher-v5 reward structure.

A planar three-link arm pushes a cylinder across a table with friction to a goal. Built on the physics
toolkit (``blendgym_blender.physics``): torque-mode ``Hinge``s with joint damping, the arm's and the
object's start states set exactly by ``Articulation.place``, ``Body.place`` and ``launch``, and the
``touching`` sensor for the arm's contact with the object. This file runs inside Blender.
"""

from __future__ import annotations

import math
from typing import Any

import bpy
import numpy as np
from blendgym_blender import spaces
from blendgym_blender.env import SceneEnv, option_vector
from blendgym_blender.parameters import Parameter
from blendgym_blender.physics import Articulation, Body, Hinge, launch, touching
from mathutils import Vector

from . import building

LINK_LENGTHS = (0.4, 0.3, 0.2)
LINK_WIDTH = 0.03
ARM_HEIGHT = LINK_WIDTH / 2  # the links' centre line: they rest on the table and meet the cylinder's side
OBJECT_RADIUS = 0.04
OBJECT_HEIGHT = 0.06
GOAL = (0.55, 0.0)
# The arm's start pose: the first link along −y, the other two along +x, clear of every start of the object.
HOME = (-math.pi / 2, math.pi / 2, 0.0)
# Bullet's collision margin of every body that touches another (m): small, so that shapes keep their edges.
MARGIN = 0.001
# Collision collections: every body is in TABLE_GROUP; the base, which only anchors the first joint, in
# none of the others'.
TABLE_GROUP = 0


class Pusher(SceneEnv):
    """A three-link arm on a table; push the cylinder to the goal.

    Three links 0.4, 0.3 and 0.2 m long turn in the horizontal plane about vertical hinges: ``joint0`` at
    the base (the origin), ``joint1`` and ``joint2`` at the ends of the first and second links. The links
    (1 kg/m, 3 cm square) lie on the table and push the object with their sides: a cylinder of radius 4 cm,
    6 cm tall, of ``object_mass`` (0.3 kg) resting on the table. The table's friction is 1, the object's
    ``object_friction`` (0.5) and the links' 0; Bullet multiplies the two coefficients of a contact, so the
    links glide on the table and along the object, and the object slides on the table with friction
    coefficient 0.5 (it stops within a few centimetres once let go). Gravity holds the links on the table: a
    horizontal arm held up by its hinges alone sags by centimetres, as Bullet's joints give a little. The goal is a marker that
    takes no part in the physics. A step is five frames of 0.01 s (0.05 s, as Pusher-v5's ``dt``), each
    simulated by Bullet with ``substeps`` substeps (4 by default).

    What differs from Pusher-v5: MuJoCo's arm is a 7-joint arm in 3D above the table; here the arm is
    planar, with the three joints that move its tip over the table (a shoulder, an elbow and a wrist). The
    reward, the episode length and the start distributions are Pusher-v5's, scaled to this arm's reach.

    ## Action space
    ``Box(-2, 2, (3,), float32)``, as Pusher-v5's: the torques of the three joints, ``gears`` (1, 0.6 and
    0.3 N·m) per unit. Joint damping (1, 0.6 and 0.3 N·m·s/rad) limits each joint driven alone to about
    2 rad/s.

    ## Observation space
    ``Box(15,)`` float64, Pusher-v5's layout for three joints:

    | index | observation | unit |
    |---|---|---|
    | 0–2 | joint angles (0: the arm straight along +x) | rad |
    | 3–5 | joint angular velocities | rad/s |
    | 6–8 | the tip of the arm (the end of the last link), x, y, z | m |
    | 9–11 | the object's centre, x, y, z | m |
    | 12–14 | the goal, x, y, z (at the object's height) | m |

    ## Reward
    ``-‖object − goal‖ − 0.5 ‖object − tip‖ − 0.1 ‖a‖²`` (Pusher-v5's defaults: ``reward_dist_weight=1``,
    ``reward_near_weight=0.5``, ``reward_control_weight=0.1``), after the step's physics. ``info`` has the
    three terms (``reward_dist``, ``reward_near``, ``reward_ctrl``) and ``touching``, whether the arm touches
    the object (``physics.touching``, to 3 mm).

    ## Starting state
    The arm in its home pose, (−π/2, π/2, 0): the first link along −y, the others along +x; joint velocities
    uniform in [-0.005, 0.005] rad/s. The goal at (0.55, 0). The object at rest at the goal plus an offset
    uniform in [-0.3, 0] × [-0.2, 0.2] m, drawn again until it is more than 0.17 m from the goal (Pusher-v5's
    draw). ``reset(options={"state": [q0, q1, q2, q0_dot, q1_dot, q2_dot], "object": [x, y], "goal": [x, y]})``
    sets them exactly; a start that would put the object inside the arm is refused.

    ## Episode end
    Never terminated; registered as ``blendgym/Pusher-v0`` with ``max_episode_steps=100`` (truncation) and
    ``reward_threshold=0``, Pusher-v5's.

    ## Parameters
    Set by ``reset(options={name: value})``, ``set_attr`` or ``call``; drawn at every reset from their ranges
    when listed in ``reset(options={"randomize": [...]})`` (docs/envs.md). Physics parameters take effect at
    the next reset, colours at once.

    | name | kind | default | range | meaning |
    |---|---|---|---|---|
    | object_mass | float | 0.3 | [0.1, 1] | mass of the object (kg) |
    | object_friction | float | 0.5 | [0.1, 1] | the object's friction coefficient (the table's is 1) |
    | gear_scale | float | 1 | [0.25, 4] | scales every gear |
    | arm_colour | colour | (0.7, 0.7, 0.0) | [0, 1]³ | linear RGB |
    | object_colour | colour | (0.1, 0.3, 0.9) | [0, 1]³ | linear RGB |
    | goal_colour | colour | (0.9, 0.2, 0.2) | [0, 1]³ | linear RGB |
    | table_colour | colour | (0.6, 0.6, 0.6) | [0, 1]³ | linear RGB |
    """

    fps = 100
    frame_skip = 5
    gears = (1.0, 0.5, 0.1)
    joint_damping = (1.0, 0.3, 0.04)
    parameters = {
        "object_mass": Parameter("float", 0.3, "mass of the object (kg)", 0.1, 1.0),
        "object_friction": Parameter("float", 0.5, "the object's friction coefficient (the table's is 1)", 0.1, 1.0),
        "gear_scale": Parameter("float", 1.0, "scales every gear", 0.25, 4.0),
        "arm_colour": Parameter("colour", (0.7, 0.7, 0.0), "linear RGB"),
        "object_colour": Parameter("colour", (0.1, 0.3, 0.9), "linear RGB"),
        "goal_colour": Parameter("colour", (0.9, 0.2, 0.2), "linear RGB"),
        "table_colour": Parameter("colour", (0.6, 0.6, 0.6), "linear RGB"),
    }
    reset_options = frozenset({"state", "object", "goal"})

    def __init__(self, substeps: int = 4) -> None:
        scene = building.empty_physics_scene(self.fps, substeps)
        super().__init__(scene)
        self.dt = 1.0 / self.fps
        scene.gravity = (0.0, 0.0, -9.81)
        self.table = building.add_box(scene, "Table", (1.6, 1.6, 0.1), (0.3, 0.0, -0.05), 1.0, "PASSIVE", friction=1.0, margin=MARGIN)
        building.collide_in(self.table, TABLE_GROUP)
        base = building.add_box(scene, "Base", (0.06, 0.06, 0.06), (0.0, 0.0, ARM_HEIGHT), 1.0, "PASSIVE")
        building.keep_out_of_collisions(base)
        self.links: list[bpy.types.Object] = []
        self.joints: list[Hinge] = []
        parent, start = base, 0.0
        for index, length in enumerate(LINK_LENGTHS):
            link = building.add_box(
                scene, f"Link{index}", (length, LINK_WIDTH, LINK_WIDTH), (start + length / 2, 0.0, ARM_HEIGHT), length, "ACTIVE", margin=MARGIN
            )
            building.collide_in(link, TABLE_GROUP)
            pivot = (start, 0.0, ARM_HEIGHT)
            self.joints.append(Hinge(scene, f"joint{index}", parent, link, pivot, (0.0, 0.0, 1.0), self.dt, damping=self.joint_damping[index]))
            self.links.append(link)
            parent, start = link, start + length
        self.arm = Articulation(self.joints)
        cylinder = building.add_body(
            scene,
            "Object",
            building.cylinder_mesh("Object", OBJECT_RADIUS, OBJECT_HEIGHT),
            (*GOAL, OBJECT_HEIGHT / 2),
            0.3,
            "ACTIVE",
            "CYLINDER",
            friction=0.5,
            margin=MARGIN,
        )
        building.collide_in(cylinder, TABLE_GROUP)
        self.object = Body(cylinder, self.dt)
        self.goal_marker = bpy.data.objects.new("Goal", building.cylinder_mesh("Goal", OBJECT_RADIUS, 0.002))
        scene.collection.objects.link(self.goal_marker)
        for obj, colour in (
            (base, (0.1, 0.1, 0.1)),
            *((link, (0.7, 0.7, 0.0)) for link in self.links),
            (cylinder, (0.1, 0.3, 0.9)),
            (self.goal_marker, (0.9, 0.2, 0.2)),
            (self.table, (0.6, 0.6, 0.6)),
        ):
            building.paint(obj, (*colour, 1.0))
        building.add_camera(scene, (0.25, -0.3, 1.3), (0.25, 0.0, 0.0))
        building.light_and_sky(scene)
        self.goal = np.array([*GOAL, OBJECT_HEIGHT / 2])
        self.observation_space = spaces.Box(-np.inf, np.inf, (15,), np.float64)
        self.action_space = spaces.Box(-2.0, 2.0, (3,), np.float32)
        self.action = np.zeros(3)
        self.terms: dict[str, Any] = {}

    # Parameters ---------------------------------------------------------------------------------------------

    def apply_parameters(self, changed: dict[str, Any]) -> None:
        # Mass and friction are read by start_episode: a rigid-body edit mid-episode would restart the simulation.
        for name, objects in (
            ("arm_colour", self.links),
            ("object_colour", [self.object.obj]),
            ("goal_colour", [self.goal_marker]),
            ("table_colour", [self.table]),
        ):
            if name in changed:
                for obj in objects:
                    obj.active_material.diffuse_color = (*changed[name], 1.0)

    # SceneEnv hooks ---------------------------------------------------------------------------------------

    def start_episode(self, options: dict[str, Any]) -> None:
        self.object.obj.rigid_body.mass = self.params["object_mass"]
        self.object.obj.rigid_body.friction = self.params["object_friction"]
        state = option_vector(options, "state", 6) if "state" in options else np.concatenate([HOME, self.np_random.uniform(-0.005, 0.005, 3)])
        goal = option_vector(options, "goal", 2) if "goal" in options else np.array(GOAL)
        if "object" in options:
            start = option_vector(options, "object", 2)
        else:
            while True:
                start = goal + np.array([self.np_random.uniform(-0.3, 0.0), self.np_random.uniform(-0.2, 0.2)])
                if np.linalg.norm(start - goal) > 0.17:
                    break
        clearance = self._clearance(state[:3], start)
        if clearance <= 0.0:
            raise ValueError(
                f"the object at {start.tolist()} would start inside the arm (by {-clearance * 1000:.0f} mm): "
                "bodies that overlap at the start fly apart"
            )
        self.goal = np.array([goal[0], goal[1], OBJECT_HEIGHT / 2])
        self.goal_marker.location = (float(goal[0]), float(goal[1]), 0.001)
        self.arm.place(state[:3], state[3:])
        self.object.place((float(start[0]), float(start[1]), OBJECT_HEIGHT / 2), rotation=(0.0, 0.0, 0.0))
        self.action = np.zeros(3)
        self.terms = {}

    def _clearance(self, angles: np.ndarray, centre: np.ndarray) -> float:
        """The gap (m) between the object's side and the nearest link, with the arm at ``angles``."""
        gap, start, heading = math.inf, np.zeros(2), 0.0
        for angle, length in zip(angles, LINK_LENGTHS, strict=True):
            heading += float(angle)
            end = start + length * np.array([math.cos(heading), math.sin(heading)])
            along = float(np.clip(np.dot(centre - start, end - start) / length**2, 0.0, 1.0))
            gap = min(gap, float(np.linalg.norm(centre - (start + along * (end - start)))) - OBJECT_RADIUS - LINK_WIDTH / 2)
            start = end
        return gap

    def launch_episode(self) -> None:
        launch(self, [self.arm], [self.object])

    def apply_action(self, action: Any) -> None:
        self.action = np.clip(np.asarray(action, dtype=np.float64), -2.0, 2.0)
        scale = self.params["gear_scale"]
        for joint, gear, torque in zip(self.joints, self.gears, self.action, strict=True):
            joint.set_effort(gear * scale * float(torque))
        self.arm.before_frame(self.frame)
        self.object.record(self.frame)

    def tip(self) -> np.ndarray:
        return np.array(self.links[-1].matrix_world @ Vector((LINK_LENGTHS[-1] / 2, 0.0, 0.0)))

    def observe(self) -> np.ndarray:
        self.arm.record(self.frame)
        self.object.record(self.frame)
        return np.concatenate([self.arm.positions, self.arm.velocities, self.tip(), self.object.position, self.goal])

    def score(self, observation: np.ndarray) -> tuple[float, bool]:
        reward_dist = -float(np.linalg.norm(observation[9:12] - observation[12:15]))
        reward_near = -0.5 * float(np.linalg.norm(observation[9:12] - observation[6:9]))
        reward_ctrl = -0.1 * float(np.square(self.action).sum())
        self.terms = {"reward_dist": reward_dist, "reward_near": reward_near, "reward_ctrl": reward_ctrl}
        return reward_dist + reward_near + reward_ctrl, False

    def info(self) -> dict[str, Any]:
        return {**self.terms, "touching": any(touching(link, self.object.obj, tolerance=0.003) is not None for link in self.links)}
