"""InvertedDoublePendulum simulated by Blender's rigid-body physics, with Gymnasium's
InvertedDoublePendulum-v5 semantics.

A cart on a rail carries two poles, hinged one on top of the other; pushing the cart keeps them upright.
Built on the physics toolkit (``blendgym_blender.physics``): a ``Slider`` with stops in force mode and two
unactuated ``Hinge``s, all three with joint damping, the start state set exactly by an ``Articulation``.
This file runs inside Blender.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from blendgym_blender import spaces
from blendgym_blender.env import SceneEnv
from blendgym_blender.parameters import Parameter
from blendgym_blender.physics import Articulation, Hinge, Slider
from mathutils import Vector

from . import building

POLE_LENGTH = 0.6  # hinge to hinge, and hinge to tip
POLE_WIDTH = 0.09
# MuJoCo's poles are capsules (radius 0.045 m, 0.6 m between the caps' centres, density 1000): 4.199 kg and
# 0.1550 kg·m² about the centre. Bullet takes a box's inertia from its size, so each pole here is a box of the
# same mass and centre whose length gives the same inertia: m(l² + w²)/12 = 0.1550 for l = 0.659 m.
POLE_BOX_LENGTH = 0.659
CART_SIZE = (0.4, 0.2, 0.2)
RAIL_LIMIT = 1.0
SOLVER_ITERATIONS = 30
UPRIGHT_TIP_HEIGHT = 1.0  # the episode ends once the tip is at or below this height


class InvertedDoublePendulum(SceneEnv):
    """Two poles on a cart; push the cart to keep them upright.

    A cart moves along a rail (x, between stops at ±1 m); pole 1 is hinged to it, pole 2 to the top of pole
    1, both about the y axis, each 0.6 m from hinge to hinge (or tip). Gravity pulls along −z. A step is five
    frames of 0.01 s (0.05 s, as InvertedDoublePendulum-v5's ``dt``), each simulated by Bullet with
    ``substeps`` substeps (20 by default).

    Masses and inertias are MuJoCo's (cart 10.47 kg; poles 4.199 kg with 0.1550 kg·m² about their centres),
    the poles being boxes sized to match, and so is the joint damping (0.05 N·s/m and N·m·s/rad on every
    joint). The motion follows MuJoCo's: from the same start states and actions the angles agree within
    0.01 rad and the velocities within 0.1 rad/s until the poles fall (tests/test_env_library.py). What
    differs: MuJoCo integrates with RK4 at 0.01 s, Bullet semi-implicitly at 0.5 ms, which dissipates slightly
    (an unactuated double pendulum loses under 1% of its energy in 10 s, tests/test_physics.py); MuJoCo's soft
    rail limit (margin 0.01 m) is a hard stop here; and observation 8, MuJoCo's constraint force on the cart,
    is 0, since Blender exposes no constraint force.

    ## Action space
    ``Box(-1, 1, (1,), float32)``: the force on the cart, as a fraction of the gear (500 N).

    ## Observation space
    ``Box(9,)`` float64, as InvertedDoublePendulum-v5's:

    | index | observation | unit |
    |---|---|---|
    | 0 | cart position x | m |
    | 1, 2 | sin of pole 1's angle and of pole 2's angle relative to pole 1 | |
    | 3, 4 | cos of the same | |
    | 5 | cart velocity, clipped to ±10 | m/s |
    | 6, 7 | the hinges' angular velocities, clipped to ±10 | rad/s |
    | 8 | constraint force on the cart (always 0 here, see above) | N |

    The angles are 0 upright and positive turning the poles from +z towards +x.

    ## Reward
    ``alive_bonus − distance_penalty − velocity_penalty``, InvertedDoublePendulum-v5's: ``alive_bonus`` is 10
    while the episode goes on, ``distance_penalty = 0.01·x_tip² + (z_tip − 2)²`` from the tip's position,
    ``velocity_penalty = 1e-3·ω₁² + 5e-3·ω₂²`` from the hinges' angular velocities. ``info`` has the three
    terms signed as they enter the reward, as v5's does (``reward_survive``, ``distance_penalty`` ≤ 0,
    ``velocity_penalty`` ≤ 0).

    ## Starting state
    Cart position and both angles uniform in [-0.1, 0.1], and the three velocities normal with standard
    deviation 0.1, as in InvertedDoublePendulum-v5. ``reset(options={"state": [x, θ1, θ2, ẋ, θ̇1, θ̇2]})``
    sets them: the velocities exactly, the positions within 1 mm and 1 mrad (Bullet's solver lags a
    fraction of a substep in the launch frame, docs/envs.md, "The physics toolkit").

    ## Episode end
    Terminated when the tip is at or below 1 m (upright it is at 1.2 m); registered as
    ``blendgym/InvertedDoublePendulum-v0`` with ``max_episode_steps=1000`` (truncation) and
    ``reward_threshold=9100``, InvertedDoublePendulum-v5's.

    ## Parameters
    Set by ``reset(options={name: value})``, ``set_attr`` or ``call``; drawn at every reset from their ranges
    when listed in ``reset(options={"randomize": [...]})`` (docs/envs.md). Physics parameters take effect at
    the next reset, colours at once.

    | name | kind | default | range | meaning |
    |---|---|---|---|---|
    | cart_mass | float | 10.47 | [2, 40] | cart mass (kg) |
    | pole_mass | float | 4.199 | [1, 10] | mass of each pole (kg); its inertia scales with it |
    | gear | float | 500 | [100, 1000] | the force of action 1 (N) |
    | joint_damping | float | 0.05 | [0, 0.5] | every joint's damping (N·s/m, N·m·s/rad) |
    | cart_colour | colour | (0.7, 0.7, 0.0) | [0, 1]³ | linear RGB |
    | pole_colour | colour | (0.0, 0.7, 0.7) | [0, 1]³ | linear RGB |
    | sky_colour | colour | (0.6, 0.7, 0.8) | [0, 1]³ | the world's colour, linear RGB |
    """

    fps = 100
    frame_skip = 5
    parameters = {
        "cart_mass": Parameter("float", 10.47, "cart mass (kg)", 2.0, 40.0),
        "pole_mass": Parameter("float", 4.199, "mass of each pole (kg); its inertia scales with it", 1.0, 10.0),
        "gear": Parameter("float", 500.0, "the force of action 1 (N)", 100.0, 1000.0),
        "joint_damping": Parameter("float", 0.05, "every joint's damping (N·s/m, N·m·s/rad)", 0.0, 0.5),
        "cart_colour": Parameter("colour", (0.7, 0.7, 0.0), "linear RGB"),
        "pole_colour": Parameter("colour", (0.0, 0.7, 0.7), "linear RGB"),
        "sky_colour": building.SKY_COLOUR,
    }
    reset_options = frozenset({"state"})

    def __init__(self, substeps: int = 20) -> None:
        scene = building.empty_physics_scene(self.fps, substeps)
        # Bullet solves the chain's constraints iteratively; with the 10 iterations other envs use, the heavy
        # cart and the poles' joints converge slowly enough to lag MuJoCo's motion twice as much and to
        # start an episode up to 2 mrad from its requested angles (measured; 6e-4 with 30).
        scene.rigidbody_world.solver_iterations = SOLVER_ITERATIONS
        super().__init__(scene)
        dt = 1.0 / self.fps
        scene.gravity = (0.0, 0.0, -9.81)
        rail = building.add_box(scene, "Rail", (2.0 * RAIL_LIMIT + CART_SIZE[0], 0.04, 0.04), (0.0, 0.0, 0.0), 1.0, "PASSIVE")
        building.keep_out_of_collisions(rail)
        self.cart = building.add_box(scene, "Cart", CART_SIZE, (0.0, 0.0, 0.0), 10.47, "ACTIVE")
        self.poles = [
            building.add_box(
                scene, f"Pole{index + 1}", (POLE_WIDTH, POLE_WIDTH, POLE_BOX_LENGTH), (0.0, 0.0, POLE_LENGTH * (index + 0.5)), 4.199, "ACTIVE"
            )
            for index in range(2)
        ]
        for body in (self.cart, *self.poles):
            body.rigid_body.collision_collections = [False] * 20
        y_axis = (0.0, 1.0, 0.0)
        self.slider = Slider(scene, "slider", rail, self.cart, (0.0, 0.0, 0.0), (1.0, 0.0, 0.0), dt, limits=(-RAIL_LIMIT, RAIL_LIMIT))
        self.hinges = [
            Hinge(scene, "hinge", self.cart, self.poles[0], (0.0, 0.0, 0.0), y_axis, dt),
            Hinge(scene, "hinge2", self.poles[0], self.poles[1], (0.0, 0.0, POLE_LENGTH), y_axis, dt),
        ]
        self.mechanism = Articulation([self.slider, *self.hinges])
        for obj, colour in (
            (rail, (0.3, 0.3, 0.7)),
            (self.cart, (0.7, 0.7, 0.0)),
            (self.poles[0], (0.0, 0.7, 0.7)),
            (self.poles[1], (0.0, 0.7, 0.7)),
        ):
            building.paint(obj, (*colour, 1.0))
        building.add_camera(scene, (0.0, -4.0, 0.6), (math.pi / 2, 0.0, 0.0))
        building.light_and_sky(scene)
        self.observation_space = spaces.Box(-np.inf, np.inf, (9,), np.float64)
        self.action_space = spaces.Box(-1.0, 1.0, (1,), np.float32)
        self.terms: dict[str, float] = {}

    # Parameters ---------------------------------------------------------------------------------------------

    def apply_parameters(self, changed: dict[str, Any]) -> None:
        # Masses and damping are read by start_episode: a rigid-body edit mid-episode would restart the
        # simulation.
        if "cart_colour" in changed:
            self.cart.active_material.diffuse_color = (*changed["cart_colour"], 1.0)
        if "pole_colour" in changed:
            for pole in self.poles:
                pole.active_material.diffuse_color = (*changed["pole_colour"], 1.0)
        if "sky_colour" in changed and self.scene.world is not None:
            self.scene.world.color = changed["sky_colour"]

    # SceneEnv hooks ---------------------------------------------------------------------------------------

    def start_episode(self, options: dict[str, Any]) -> None:
        self.cart.rigid_body.mass = self.params["cart_mass"]
        for pole in self.poles:
            pole.rigid_body.mass = self.params["pole_mass"]
        for joint in self.mechanism.joints:
            joint.damping = self.params["joint_damping"]
        if "state" in options:
            state = np.asarray(options["state"], dtype=np.float64)
            if state.shape != (6,) or not np.all(np.isfinite(state)) or abs(state[0]) > RAIL_LIMIT:
                raise ValueError(
                    f"options['state'] must be 6 finite numbers [x, θ1, θ2, ẋ, θ̇1, θ̇2] with |x| ≤ {RAIL_LIMIT}, got {options['state']!r}"
                )
        else:
            state = np.concatenate([self.np_random.uniform(-0.1, 0.1, 3), 0.1 * self.np_random.standard_normal(3)])
        self.mechanism.place(state[:3], state[3:])
        self.terms = {}

    def launch_episode(self) -> None:
        self.mechanism.launch(self)

    def apply_action(self, action: Any) -> None:
        fraction = float(np.clip(np.asarray(action, dtype=np.float64).reshape(-1)[0], -1.0, 1.0))
        self.slider.set_effort(self.params["gear"] * fraction)
        self.mechanism.before_frame(self.frame)

    def tip(self) -> np.ndarray:
        """The tip of pole 2 (x, z) in m."""
        tip = self.poles[1].matrix_world @ Vector((0.0, 0.0, POLE_LENGTH / 2))
        return np.array([tip.x, tip.z])

    def observe(self) -> np.ndarray:
        self.mechanism.record(self.frame)
        angles = self.mechanism.positions[1:]
        velocities = np.clip(self.mechanism.velocities, -10.0, 10.0)
        return np.concatenate([self.mechanism.positions[:1], np.sin(angles), np.cos(angles), velocities, [0.0]])

    def score(self, observation: np.ndarray) -> tuple[float, bool]:
        x_tip, z_tip = self.tip()
        terminated = bool(z_tip <= UPRIGHT_TIP_HEIGHT)
        rates = self.mechanism.velocities[1:]
        # Signed as InvertedDoublePendulum-v5's info: the reward is their sum.
        self.terms = {
            "reward_survive": 0.0 if terminated else 10.0,
            "distance_penalty": -(0.01 * x_tip**2 + (z_tip - 2.0) ** 2),
            "velocity_penalty": -(1e-3 * rates[0] ** 2 + 5e-3 * rates[1] ** 2),
        }
        return sum(self.terms.values()), terminated

    def info(self) -> dict[str, Any]:
        return dict(self.terms)
