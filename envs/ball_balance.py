"""BallBalance: a plate tilted by two actuated hinges keeps a rolling ball at a target.

The task of ML-Agents' 3DBall, simulated by Blender's rigid-body physics with contacts and friction: the ball
rolls on the plate, and the plate's two hinges are servos (position mode of the physics toolkit's
``Hinge``). Built on the physics toolkit (``blendgym_blender.physics``): two ``Hinge``s in series through a
gimbal, the start state set exactly by ``Articulation.place``, ``Body.place`` and ``launch``. This file runs
inside Blender; ``blendgym/BallBalancePixels-v0`` is the same env seen through its camera.
"""

from __future__ import annotations

import math
from typing import Any

import bpy
import numpy as np
from blendgym_blender import spaces
from blendgym_blender.env import SceneEnv, option_vector
from blendgym_blender.parameters import Parameter
from blendgym_blender.physics import Articulation, Body, Hinge, launch

from . import building

PLATE_HALF = 0.25  # the plate is 0.5 m square
PLATE_THICKNESS = 0.02
BALL_RADIUS = 0.04
PIVOT_HEIGHT = 0.3  # the hinges' axes cross at the plate's centre, this high above the floor
MAX_TILT = 0.2  # rad: an action of ±1 asks each hinge for this tilt
TILT_LIMIT = 0.35  # rad: the hinges' stops
START_RADIUS = 0.1  # the ball's start and the target lie within this distance of the plate's centre
# Bullet's collision margin of the plate and the ball (m): small, so that the ball rests on the true surface.
MARGIN = 0.001
# What BallBalancePixels-v0 draws at every reset: everything a camera sees but the ball and the target.
LOOK = ("plate_colour", "floor_colour", "sky_colour", "sun_strength", "camera_angle", "camera_distance")
# The servos: a PD controller per hinge, critically damped for the plate's inertia (0.021 kg·m² about
# either axis), natural frequency ~22 rad/s.
STIFFNESS = 10.0  # N·m/rad
DAMPING = 0.9  # N·m·s/rad
MAX_TORQUE = 5.0  # N·m


class BallBalance(SceneEnv):
    """A square plate on two hinges, with a ball rolling on it; keep the ball at the target.

    The plate (0.5 m square, 1 kg) turns about two horizontal hinges whose axes cross at its centre: ``tilt_x``
    about the world's x axis between a fixed base and a gimbal, ``tilt_y`` about the gimbal's y axis between
    the gimbal and the plate. Each hinge is a servo: the action sets its target angle, and a PD controller
    (10 N·m/rad, 0.9 N·m·s/rad, at most 5 N·m) holds it there. A ball (radius 4 cm, 0.1 kg, friction 0.5
    against the plate's 1, so that it rolls: Bullet multiplies the two) rolls on the plate; it rolls down a
    plate held at angle θ at (5/7)·g·sin θ, as a solid sphere does (tests/test_physics.py). A step is four
    frames of 0.01 s (0.04 s), each simulated by Bullet with ``substeps`` substeps (4 by default).

    ## Action space
    ``Box(-1, 1, (2,), float32)``: the target angles of ``tilt_x`` and ``tilt_y``, as fractions of 0.2 rad.
    Positive ``tilt_x`` raises the plate's +y edge, positive ``tilt_y`` lowers its +x edge (right-handed turns
    about +x and +y).

    ## Observation space
    ``Box(10,)`` float64; positions and velocities of the ball and the target are in the plate's frame (x and
    y along its edges, from its centre):

    | index | observation | unit |
    |---|---|---|
    | 0, 1 | ``tilt_x`` and ``tilt_y`` angles | rad |
    | 2, 3 | ``tilt_x`` and ``tilt_y`` angular velocities | rad/s |
    | 4, 5 | the ball's position x, y | m |
    | 6, 7 | the ball's velocity x, y | m/s |
    | 8, 9 | the target's position x, y | m |

    ## Reward
    ``1 − min(d / 0.25, 1)`` per step, ``d`` the ball's distance from the target (m): 1 at the target, 0 at a
    quarter-metre or more, and nothing once the ball is off. ``info["distance"]`` is ``d``.

    ## Starting state
    Both hinge angles uniform in [-0.05, 0.05] rad, at rest; the ball at rest on the plate and the target,
    each uniform in the disc of radius 0.1 m about the plate's centre. ``reset(options={"state": [ax, ay,
    ax_dot, ay_dot], "ball": [x, y], "target": [x, y]})`` sets them exactly (angles within ±0.35 rad, the
    hinges' stops; ball and target on the plate).

    ## Episode end
    Terminated when the ball's centre leaves the plate (|x| or |y| above 0.25 m in the plate's frame);
    registered as ``blendgym/BallBalance-v0`` with ``max_episode_steps=200`` (8 s, truncation) and
    ``reward_threshold=150``.

    ## Parameters
    Set by ``reset(options={name: value})``, ``set_attr`` or ``call``; drawn at every reset from their ranges
    when listed in ``reset(options={"randomize": [...]})`` (docs/envs.md). Physics parameters take effect at
    the next reset, the look at once. ``blendgym/BallBalancePixels-v0`` randomises the look to train
    policies that see past it: it draws the plate's, the floor's and the sky's colours, the sun and the
    camera's angle and distance at every reset (``randomize_look=True``).

    | name | kind | default | range | meaning |
    |---|---|---|---|---|
    | ball_mass | float | 0.1 | [0.02, 0.5] | the ball's mass (kg) |
    | ball_friction | float | 0.5 | [0.2, 1] | the ball's friction coefficient (the plate's is 1) |
    | servo_scale | float | 1 | [0.5, 2] | scales both servos' stiffness and damping |
    | plate_colour | colour | (0.15, 0.35, 0.15) | [0, 1]³ | linear RGB |
    | ball_colour | colour | (0.9, 0.5, 0.05) | [0, 1]³ | linear RGB |
    | target_colour | colour | (0.9, 0.1, 0.1) | [0, 1]³ | linear RGB |
    | floor_colour | colour | (0.3, 0.3, 0.3) | [0, 1]³ | linear RGB |
    | sky_colour | colour | (0.6, 0.7, 0.8) | [0, 1]³ | the world's colour, linear RGB |
    | sun_strength | float | 1 | [0.2, 5] | sun light (W/m²), seen by the cycles and eevee renderers |
    | camera_angle | float | 0.5 | [0.3, 0.8] | the camera's angle from straight down (rad), looking at the plate from −y |
    | camera_distance | float | 1.3 | [1, 1.8] | the camera's distance from the plate's centre (m) |
    """

    fps = 100
    frame_skip = 4
    parameters = {
        "ball_mass": Parameter("float", 0.1, "the ball's mass (kg)", 0.02, 0.5),
        "ball_friction": Parameter("float", 0.5, "the ball's friction coefficient (the plate's is 1)", 0.2, 1.0),
        "servo_scale": Parameter("float", 1.0, "scales both servos' stiffness and damping", 0.5, 2.0),
        "plate_colour": Parameter("colour", (0.15, 0.35, 0.15), "linear RGB"),
        "ball_colour": Parameter("colour", (0.9, 0.5, 0.05), "linear RGB"),
        "target_colour": Parameter("colour", (0.9, 0.1, 0.1), "linear RGB"),
        "floor_colour": Parameter("colour", (0.3, 0.3, 0.3), "linear RGB"),
        "sky_colour": building.SKY_COLOUR,
        "sun_strength": Parameter("float", 1.0, "sun light (W/m²), seen by the cycles and eevee renderers", 0.2, 5.0),
        "camera_angle": Parameter("float", 0.5, "the camera's angle from straight down (rad), looking at the plate from −y", 0.3, 0.8),
        "camera_distance": Parameter("float", 1.3, "the camera's distance from the plate's centre (m)", 1.0, 1.8),
    }
    reset_options = frozenset({"state", "ball", "target"})

    def __init__(self, substeps: int = 4, randomize_look: bool = False) -> None:
        """``randomize_look`` draws the look (``LOOK``) at every reset, as ``reset(options={"randomize":
        LOOK})`` would: ``blendgym/BallBalancePixels-v0`` sets it."""
        scene = building.empty_physics_scene(self.fps, substeps)
        super().__init__(scene)
        if randomize_look:
            self.randomized = list(LOOK)
        self.dt = 1.0 / self.fps
        scene.gravity = (0.0, 0.0, -9.81)
        pivot = (0.0, 0.0, PIVOT_HEIGHT)
        base = building.add_box(scene, "Base", (0.04, 0.04, 0.04), pivot, 1.0, "PASSIVE")
        gimbal = building.add_box(scene, "Gimbal", (0.06, 0.06, 0.01), pivot, 0.2, "ACTIVE")
        self.plate = building.add_box(
            scene, "Plate", (2 * PLATE_HALF, 2 * PLATE_HALF, PLATE_THICKNESS), pivot, 1.0, "ACTIVE", friction=1.0, margin=MARGIN
        )
        # The base and the gimbal only carry the hinges: they collide with nothing.
        building.collide_in(base)
        building.collide_in(gimbal)
        self.joints = [
            Hinge(scene, "tilt_x", base, gimbal, pivot, (1.0, 0.0, 0.0), self.dt, limits=(-TILT_LIMIT, TILT_LIMIT)),
            Hinge(scene, "tilt_y", gimbal, self.plate, pivot, (0.0, 1.0, 0.0), self.dt, limits=(-TILT_LIMIT, TILT_LIMIT)),
        ]
        self.servos = Articulation(self.joints)
        ball = building.add_body(
            scene,
            "Ball",
            building.sphere_mesh("Ball", BALL_RADIUS),
            (0.0, 0.0, PIVOT_HEIGHT + PLATE_THICKNESS / 2 + BALL_RADIUS),
            0.1,
            "ACTIVE",
            "SPHERE",
            friction=0.5,
            margin=MARGIN,
        )
        self.ball = Body(ball, self.dt)
        self.target = bpy.data.objects.new("Target", building.cylinder_mesh("Target", 0.02, 0.002))
        self.target.parent = self.plate  # the marker rides on the plate; it takes no part in the physics
        scene.collection.objects.link(self.target)
        self.floor = bpy.data.objects.new("Floor", building.box_mesh("Floor", (3.0, 3.0, 0.01)))
        self.floor.location = (0.0, 0.0, -0.005)
        scene.collection.objects.link(self.floor)
        self.materials = {
            "plate_colour": building.paint(self.plate, (0.15, 0.35, 0.15, 1.0)),
            "ball_colour": building.paint(ball, (0.9, 0.5, 0.05, 1.0)),
            "target_colour": building.paint(self.target, (0.9, 0.1, 0.1, 1.0)),
            "floor_colour": building.paint(self.floor, (0.3, 0.3, 0.3, 1.0)),
        }
        building.paint(base, (0.1, 0.1, 0.1, 1.0))
        building.paint(gimbal, (0.1, 0.1, 0.1, 1.0))
        self.camera = building.add_camera(scene, (0.0, 0.0, 0.0), (0.0, 0.0, 0.0))
        self._aim_camera(0.5, 1.3)
        self.sun = building.light_and_sky(scene)
        self.target_position = np.zeros(2)
        self.observation_space = spaces.Box(-np.inf, np.inf, (10,), np.float64)
        self.action_space = spaces.Box(-1.0, 1.0, (2,), np.float32)
        self.distance = 0.0

    def _aim_camera(self, angle: float, distance: float) -> None:
        """The camera on the −y side, ``angle`` rad from straight down, ``distance`` m from the plate's centre."""
        self.camera.location = (0.0, -distance * math.sin(angle), PIVOT_HEIGHT + distance * math.cos(angle))
        self.camera.rotation_euler = (angle, 0.0, 0.0)

    # Parameters ---------------------------------------------------------------------------------------------

    def apply_parameters(self, changed: dict[str, Any]) -> None:
        # Mass and friction are read by start_episode: a rigid-body edit mid-episode would restart the simulation.
        for name, material in self.materials.items():
            if name in changed:
                material.diffuse_color = (*changed[name], 1.0)
        if "sky_colour" in changed:
            self.scene.world.color = changed["sky_colour"]
        if "sun_strength" in changed:
            self.sun.data.energy = changed["sun_strength"]
        if {"camera_angle", "camera_distance"} & set(changed):
            self._aim_camera(self.params["camera_angle"], self.params["camera_distance"])

    # SceneEnv hooks ---------------------------------------------------------------------------------------

    def start_episode(self, options: dict[str, Any]) -> None:
        self.ball.obj.rigid_body.mass = self.params["ball_mass"]
        self.ball.obj.rigid_body.friction = self.params["ball_friction"]
        if "state" in options:
            state = option_vector(options, "state", 4)
            if np.any(np.abs(state[:2]) > TILT_LIMIT):
                raise ValueError(f"options['state']: the angles {state[:2].tolist()} must lie within the hinges' stops, ±{TILT_LIMIT} rad")
        else:
            state = np.concatenate([self.np_random.uniform(-0.05, 0.05, 2), np.zeros(2)])
        ball = option_vector(options, "ball", 2) if "ball" in options else self._in_disc()
        target = option_vector(options, "target", 2) if "target" in options else self._in_disc()
        for name, point in (("ball", ball), ("target", target)):
            if np.any(np.abs(point) > PLATE_HALF - BALL_RADIUS):
                raise ValueError(f"options[{name!r}] = {point.tolist()} is off the plate: x and y must lie within ±{PLATE_HALF - BALL_RADIUS} m")
        self.servos.place(state[:2], state[2:])
        # The plate is posed one frame before its start angles; the ball starts at rest on its start pose.
        plate_start = self._plate_matrix(state[:2])
        self.ball.place(tuple(plate_start @ np.array([ball[0], ball[1], PLATE_THICKNESS / 2 + BALL_RADIUS, 1.0]))[:3], rotation=(0.0, 0.0, 0.0))
        self.target_position = target
        self.target.location = (float(target[0]), float(target[1]), PLATE_THICKNESS / 2 + 0.001)
        self.distance = float(np.linalg.norm(ball - target))

    def _in_disc(self) -> np.ndarray:
        while True:
            point = self.np_random.uniform(-START_RADIUS, START_RADIUS, 2)
            if np.linalg.norm(point) < START_RADIUS:
                return point

    @staticmethod
    def _plate_matrix(angles: np.ndarray) -> np.ndarray:
        """The plate's world matrix at hinge angles ``angles``: turned about x, then about the turned y axis."""
        ax, ay = (float(angle) for angle in angles)
        about_x = np.array([[1.0, 0.0, 0.0], [0.0, math.cos(ax), -math.sin(ax)], [0.0, math.sin(ax), math.cos(ax)]])
        about_y = np.array([[math.cos(ay), 0.0, math.sin(ay)], [0.0, 1.0, 0.0], [-math.sin(ay), 0.0, math.cos(ay)]])
        matrix = np.eye(4)
        matrix[:3, :3] = about_x @ about_y
        matrix[:3, 3] = (0.0, 0.0, PIVOT_HEIGHT)
        return matrix

    def launch_episode(self) -> None:
        launch(self, [self.servos], [self.ball])

    def apply_action(self, action: Any) -> None:
        targets = np.clip(np.asarray(action, dtype=np.float64), -1.0, 1.0) * MAX_TILT
        gains = (STIFFNESS * self.params["servo_scale"], DAMPING * self.params["servo_scale"])
        for joint, target in zip(self.joints, targets, strict=True):
            joint.set_target(float(target), *gains, MAX_TORQUE)
        self.servos.before_frame(self.frame)
        self.ball.record(self.frame)

    def observe(self) -> np.ndarray:
        self.servos.record(self.frame)
        self.ball.record(self.frame)
        plate = np.array(self.plate.matrix_world, dtype=np.float64)
        to_plate = plate[:3, :3].T
        ball = to_plate @ (self.ball.position - plate[:3, 3])
        velocity = to_plate @ self.ball.linear_velocity
        return np.concatenate([self.servos.positions, self.servos.velocities, ball[:2], velocity[:2], self.target_position])

    def score(self, observation: np.ndarray) -> tuple[float, bool]:
        self.distance = float(np.linalg.norm(observation[4:6] - observation[8:10]))
        off = bool(np.any(np.abs(observation[4:6]) > PLATE_HALF))
        return (0.0 if off else 1.0 - min(self.distance / PLATE_HALF, 1.0)), off

    def info(self) -> dict[str, Any]:
        return {"distance": self.distance}
