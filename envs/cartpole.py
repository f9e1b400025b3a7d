"""CartPole simulated by Blender's rigid-body physics (Bullet), with Gymnasium's CartPole-v1 semantics.

This file runs inside Blender. It is also the worked example for writing an env: build the scene in
``__init__``, declare the spaces, and implement ``start_episode``, ``apply_action``, ``observe`` and ``score``.
"""

from __future__ import annotations

import math
from collections import deque
from typing import Any

import bpy
import numpy as np
from blendgym_blender import spaces
from blendgym_blender.env import SceneEnv, option_vector
from blendgym_blender.parameters import Parameter

from . import building

# A motor drives object1 relative to object2, so with (ground, cart) it pushes the cart towards the opposite
# sign of its target velocity (docs/blender.md, "Rigid bodies, constraints and motors"), and its
# max impulse acts as a force limit in newtons. A constant force F is therefore a target velocity of
# -UNREACHABLE_SPEED * sign(F) with a max impulse of |F|.
UNREACHABLE_SPEED = 1.0e6
# Force limit of the motors that set the start velocities during the launch frame: stiff enough to hold
# any start velocity against gravity and the other body.
LAUNCH_FORCE = 1.0e5

CART_SIZE = (0.5, 0.3, 0.2)
POLE_SIZE = (0.05, 0.05, 1.0)
POLE_LOOK_SIZE = (0.12, 0.12, 1.0)
POLE_PIVOT_Z = CART_SIZE[2] / 2
RESET_OPTIONS = frozenset({"state", "low", "high"})
CAMERA_Y = -8.0
# The objects the env drives; a scene that has them all is used as it is.
SCENE_OBJECTS = ("Ground", "Cart", "Pole", "Hinge", "Push", "Spin")


class CartPole(SceneEnv):
    """A pole hinged on a cart that moves along a frictionless track; keep the pole upright.

    The scene is built from code, so it is the same on every Blender from 3.4 on. Where the open file's scene
    holds the cart-pole already (objects ``Ground``, ``Cart``, ``Pole`` and the constraints ``Hinge``, ``Push``
    and ``Spin``, as this class builds them), that scene is used as it is, look and all (docs/live.md). A step is one frame
    of 0.02 s, simulated by Bullet with ``substeps`` substeps (10 by default: a pole falling freely from
    0.05 rad is within 0.4% of the exact rigid cart-pole solution after 0.8 s).

    ## Action space
    ``Discrete(2)``: 0 pushes the cart left (-x) with ``force_mag`` newtons (10 by default), 1 pushes it right.

    ## Observation space
    ``Box(4,)`` float32:

    | index | observation | min | max |
    |---|---|---|---|
    | 0 | cart position x (m) | -4.8 | 4.8 |
    | 1 | cart velocity (m/s) | -inf | inf |
    | 2 | pole angle θ from upright (rad, positive leaning to +x) | -0.419 | 0.419 |
    | 3 | pole angular velocity (rad/s) | -inf | inf |

    Blender exposes no body velocities, so the velocities are second-order backward differences of the last
    three frames' poses (within 1e-3 of the requested start velocities at reset, which the launch frame holds).

    ## Reward
    +1 for every step, including the one that terminates; 0 for steps taken after termination.

    ## Starting state
    All four observations uniform in [-0.05, 0.05]. ``reset(options={"low": a, "high": b})`` changes the
    range; ``reset(options={"state": [x, x_dot, theta, theta_dot]})`` sets the start state exactly. Before the
    first observation, one launch frame drives cart and pole at their start velocities with stiff motors.

    ## Episode end
    Terminated when |θ| > 12° (0.2095 rad) or |x| > 2.4 m. Registered as ``blendgym/CartPole-v0`` with
    ``max_episode_steps=500`` (truncation) and ``reward_threshold=475``, and as ``blendgym/CartPolePixels-v0``,
    whose observations are the camera's 84×84 RGB images (``obs_mode="pixels"``).

    ## Masses and sizes
    Cart 1 kg, 0.5 × 0.3 × 0.2 m; pole 0.1 kg, 0.05 × 0.05 × 1 m, hinged at the centre of the cart's top.

    ## Parameters
    Set by ``reset(options={name: value})``, ``set_attr`` or ``call``, drawn at every reset from their
    ranges when listed in ``reset(options={"randomize": [...]})`` (docs/envs.md). Physics parameters
    (masses, damping) take effect at the next reset; the others at once.

    | name | kind | default | range | meaning |
    |---|---|---|---|---|
    | force_mag | float | 10 | [0, 30] | push force (N) |
    | pole_mass | float | 0.1 | [0.02, 1] | pole mass (kg) |
    | cart_mass | float | 1 | [0.2, 5] | cart mass (kg) |
    | cart_damping | float | 0 | [0, 0.5] | the cart's linear damping: the fraction of its speed lost per second |
    | cart_colour | colour | (0.02, 0.06, 0.3) | [0, 1]³ | linear RGB |
    | pole_colour | colour | (0.8, 0.25, 0.03) | [0, 1]³ | linear RGB |
    | ground_colour | colour | (0.05, 0.05, 0.05) | [0, 1]³ | linear RGB |
    | sky_colour | colour | (0.6, 0.7, 0.8) | [0, 1]³ | the world's colour, linear RGB |
    | sun_strength | float | 1 | [0, 5] | sun light (W/m²), seen by the cycles and eevee renderers |
    | camera_x | float | 0 | [-1, 1] | camera position along the track (m) |
    | camera_height | float | 0.5 | [0, 1.5] | camera height above the cart's centre (m) |
    | camera_distance | float | 8 | [6, 11] | camera distance from the track (m) |
    """

    parameters = {
        "force_mag": Parameter("float", 10.0, "push force (N)", 0.0, 30.0),
        "pole_mass": Parameter("float", 0.1, "pole mass (kg)", 0.02, 1.0),
        "cart_mass": Parameter("float", 1.0, "cart mass (kg)", 0.2, 5.0),
        "cart_damping": Parameter("float", 0.0, "the cart's linear damping: the fraction of its speed lost per second", 0.0, 0.5),
        "cart_colour": Parameter("colour", (0.02, 0.06, 0.3), "linear RGB"),
        "pole_colour": Parameter("colour", (0.8, 0.25, 0.03), "linear RGB"),
        "ground_colour": Parameter("colour", (0.05, 0.05, 0.05), "linear RGB"),
        "sky_colour": building.SKY_COLOUR,
        "sun_strength": Parameter("float", 1.0, "sun light (W/m²), seen by the cycles and eevee renderers", 0.0, 5.0),
        "camera_x": Parameter("float", 0.0, "camera position along the track (m)", -1.0, 1.0),
        "camera_height": Parameter("float", 0.5, "camera height above the cart's centre (m)", 0.0, 1.5),
        "camera_distance": Parameter("float", -CAMERA_Y, "camera distance from the track (m)", 6.0, 11.0),
    }
    reset_options = RESET_OPTIONS

    x_threshold = 2.4
    theta_threshold = 12 * 2 * math.pi / 360
    fps = 50

    def __init__(self, force_mag: float = 10.0, substeps: int = 10) -> None:
        # A scene that holds the cart-pole already (a user's file opened in Blender, docs/live.md) is used as it is.
        scene, adopted = building.scene_holding(SCENE_OBJECTS, self.fps, substeps)
        super().__init__(scene)
        self.dt = 1.0 / self.fps
        if not adopted:
            self._build()
        objects = scene.objects
        self.ground, self.cart, self.pole = objects["Ground"], objects["Cart"], objects["Pole"]
        self.push = objects["Push"].rigid_body_constraint
        self.spin = objects["Spin"].rigid_body_constraint
        self.pivots = (objects["Hinge"], objects["Spin"])
        self.params["force_mag"] = self.parameters["force_mag"].check("force_mag", force_mag)
        self._set_motors(0.0, 0.0, 0.0, 0.0)

        high = np.array([self.x_threshold * 2, np.finfo(np.float32).max, self.theta_threshold * 2, np.finfo(np.float32).max], dtype=np.float32)
        self.observation_space = spaces.Box(-high, high, dtype=np.float32)
        self.action_space = spaces.Discrete(2)
        self.poses: deque[tuple[float, float]] = deque(maxlen=3)
        self.observed_frame = -1
        self.terminated = False

    # Scene construction -----------------------------------------------------------------------------------

    def _build(self) -> None:
        scene = self.scene
        ground = building.add_box(scene, "Ground", (8.0, 1.0, 0.1), (0.0, 0.0, -0.2), 1.0, "PASSIVE")
        building.keep_out_of_collisions(ground)  # it only anchors the track's constraints
        cart = building.add_box(scene, "Cart", CART_SIZE, (0.0, 0.0, 0.0), 1.0, "ACTIVE")
        pole = building.add_box(scene, "Pole", POLE_SIZE, (0.0, 0.0, POLE_PIVOT_Z + POLE_SIZE[2] / 2), 0.1, "ACTIVE")
        building.add_constraint(scene, "Hinge", "HINGE", cart, pole, (0, 0, POLE_PIVOT_Z), (math.pi / 2, 0, 0))
        building.add_constraint(scene, "Track", "SLIDER", ground, cart, (0, 0, 0), (0, 0, 0))
        building.add_constraint(scene, "Push", "MOTOR", ground, cart, (0, 0, 0), (0, 0, 0)).use_motor_lin = True
        # Drives the pole about the hinge axis (the motor's local X, turned onto world Y) in the launch frame.
        building.add_constraint(scene, "Spin", "MOTOR", cart, pole, (0, 0, POLE_PIVOT_Z), (0, 0, math.pi / 2)).use_motor_ang = True
        self._add_look(ground, cart, pole)

    def _add_look(self, ground: bpy.types.Object, cart: bpy.types.Object, pole: bpy.types.Object) -> None:
        """Colours, a camera that sees the whole track, a sun, and a pole thick enough to show at 84×84."""
        building.paint(ground, (0.05, 0.05, 0.05, 1.0))
        building.paint(cart, (0.02, 0.06, 0.3, 1.0))
        building.paint(pole, (0.8, 0.25, 0.03, 1.0))
        # Drawn instead of the 5 cm pole, which would be under a pixel wide at 84×84; it follows the pole
        # as its child, and takes no part in the physics.
        look = bpy.data.objects.new("PoleLook", building.box_mesh("PoleLook", POLE_LOOK_SIZE))
        look.data.materials.append(pole.active_material)
        look.parent = pole
        self.scene.collection.objects.link(look)
        pole.hide_render = True
        building.add_camera(self.scene, (0.0, CAMERA_Y, 0.5), (math.pi / 2, 0.0, 0.0))
        building.light_and_sky(self.scene)

    def _set_motors(self, push_velocity: float, push_force: float, spin_velocity: float, spin_torque: float) -> None:
        self.push.motor_lin_target_velocity = push_velocity
        self.push.motor_lin_max_impulse = push_force
        self.spin.motor_ang_target_velocity = spin_velocity
        self.spin.motor_ang_max_impulse = spin_torque

    def _pose(self) -> tuple[float, float]:
        up = self.pole.matrix_world.col[2]
        return self.cart.matrix_world.translation[0], math.atan2(up[0], up[2])

    def _place(self, x: float, theta: float) -> None:
        self.cart.location = (x, 0.0, 0.0)
        half = POLE_SIZE[2] / 2
        self.pole.location = (x + half * math.sin(theta), 0.0, POLE_PIVOT_Z + half * math.cos(theta))
        self.pole.rotation_euler = (0.0, theta, 0.0)
        # Blender takes a constraint's pivot from its empty when the simulation starts: the pole's hinge
        # and motor must start at the cart's top, wherever the cart starts.
        for anchor in self.pivots:
            anchor.location = (x, 0.0, POLE_PIVOT_Z)

    # SceneEnv hooks ---------------------------------------------------------------------------------------

    def apply_parameters(self, changed: dict[str, Any]) -> None:
        # Masses and damping are read by start_episode: a rigid-body edit mid-episode would restart Blender's
        # simulation. Colours and poses are not part of it.
        for name, obj in (("cart_colour", self.cart), ("pole_colour", self.pole), ("ground_colour", self.ground)):
            if name in changed:
                obj.active_material.diffuse_color = (*changed[name], 1.0)
        if "sky_colour" in changed and self.scene.world is not None:
            self.scene.world.color = changed["sky_colour"]
        sun = self.scene.objects.get("Sun")
        if "sun_strength" in changed and sun is not None:
            sun.data.energy = changed["sun_strength"]
        camera = self.scene.camera
        if camera is not None and {"camera_x", "camera_height", "camera_distance"} & set(changed):
            camera.location = (self.params["camera_x"], -self.params["camera_distance"], self.params["camera_height"])

    def start_episode(self, options: dict[str, Any]) -> None:
        self.cart.rigid_body.mass = self.params["cart_mass"]
        self.pole.rigid_body.mass = self.params["pole_mass"]
        self.cart.rigid_body.linear_damping = self.params["cart_damping"]
        if "state" in options:
            state = option_vector(options, "state", 4, "[x, x_dot, theta, theta_dot]")
        else:
            low, high = float(options.get("low", -0.05)), float(options.get("high", 0.05))
            if not low <= high:
                raise ValueError(f"options low={low} must not exceed high={high}")
            state = self.np_random.uniform(low, high, size=4)
        x, x_dot, theta, theta_dot = (float(v) for v in state)
        # One frame before the start state, from where the launch frame carries the bodies into it.
        self._place(x - x_dot * self.dt, theta - theta_dot * self.dt)
        self.spin.enabled = True
        self._set_motors(-x_dot, LAUNCH_FORCE, -theta_dot, LAUNCH_FORCE)
        self.terminated = False

    def launch_episode(self) -> None:
        self.poses.clear()
        before = self._pose()
        self.advance_frame()
        self._set_motors(0.0, 0.0, 0.0, 0.0)
        # Even without torque the spin motor costs the solver ~3 µs a frame; the episode does not need it.
        self.spin.enabled = False
        after = self._pose()
        # The launch frame moved at constant velocity, so the frame before it lies as far back again.
        self.poses.extend([(2 * before[0] - after[0], 2 * before[1] - after[1]), before, after])
        self.observed_frame = self.frame

    def apply_action(self, action: Any) -> None:
        force_mag = self.params["force_mag"]
        force = force_mag if int(action) == 1 else -force_mag
        self.push.motor_lin_target_velocity = -math.copysign(UNREACHABLE_SPEED, force)
        self.push.motor_lin_max_impulse = abs(force)

    def observe(self) -> np.ndarray:
        if self.observed_frame != self.frame:
            self.poses.append(self._pose())
            self.observed_frame = self.frame
        (x2, t2), (x1, t1), (x0, t0) = self.poses
        scale = 1.0 / (2.0 * self.dt)
        return np.array([x0, (3 * x0 - 4 * x1 + x2) * scale, t0, (3 * t0 - 4 * t1 + t2) * scale], dtype=np.float32)

    def score(self, observation: np.ndarray) -> tuple[float, bool]:
        x, theta = float(observation[0]), float(observation[2])
        reward = 0.0 if self.terminated else 1.0
        self.terminated = abs(x) > self.x_threshold or abs(theta) > self.theta_threshold
        return reward, self.terminated
