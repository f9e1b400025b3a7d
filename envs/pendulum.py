"""Pendulum swing-up simulated by Blender's rigid-body physics, with Gymnasium's Pendulum-v1 semantics.

A continuous-control env: a hinge motor applies the action as a torque. This file runs inside Blender.
"""

from __future__ import annotations

import math
from collections import deque
from typing import Any

import numpy as np
from blendgym_blender import spaces
from blendgym_blender.env import SceneEnv, option_vector
from blendgym_blender.parameters import Parameter

from . import building

# A motor drives object1 relative to object2: with the motor's objects in the order (base, rod) the rod turns
# towards the opposite sign of the target velocity, and the max impulse acts as a torque limit in newton
# metres (docs/blender.md, "Rigid bodies, constraints and motors").
UNREACHABLE_SPEED = 1.0e6
LAUNCH_TORQUE = 1.0e5
ROD_SIZE = (0.08, 0.08, 1.0)
PIVOT = (0.0, 0.0, 1.5)
SCENE_OBJECTS = ("Base", "Rod", "Hinge", "Motor")


def wrap(angle: float) -> float:
    """``angle`` in [-π, π)."""
    return (angle + math.pi) % (2 * math.pi) - math.pi


class Pendulum(SceneEnv):
    """A rod hanging from a hinge; swing it up and hold it upright with a limited torque.

    A uniform rod, 1 m long and 1 kg (``rod_mass``), turns about a fixed horizontal hinge at its top end.
    Gravity is 9.81 m/s² (``gravity``). A step is one frame of 0.05 s, simulated by Bullet with ``substeps``
    substeps (20 by default). The torque limit (2 N·m) is below the ~4.9 N·m that holding the rod
    horizontal takes, so the policy must swing it up, as in Gymnasium's Pendulum-v1.

    ## Action space
    ``Box(-2, 2, (1,), float32)``: the torque applied by the hinge motor (N·m), positive turning θ up.

    ## Observation space
    ``Box(3,)`` float32:

    | index | observation | min | max |
    |---|---|---|---|
    | 0 | cos θ, θ from upright | -1 | 1 |
    | 1 | sin θ (positive leaning to +x) | -1 | 1 |
    | 2 | angular velocity θ' (rad/s) | -inf | inf |

    The velocity is a second-order backward difference of the last three frames' angles (Blender exposes
    no body velocities). Unlike Pendulum-v1 it is not clipped: the physics decides it.

    ## Reward
    ``-(θ² + 0.1 θ'² + 0.001 torque²)`` with θ in [-π, π): 0 upright and still, about -16.3 at worst.

    ## Starting state
    θ uniform in [-π, π], θ' uniform in [-1, 1] rad/s (``reset(options={"state": [theta, theta_dot]})`` sets
    it exactly). A launch frame drives the rod at its start velocity with a stiff motor.

    ## Episode end
    Never terminated. Registered as ``blendgym/Pendulum-v0`` with ``max_episode_steps=200`` (truncation).
    agents/train_pendulum.py trains SAC to a mean return above -400 (docs/envs.md), which random actions
    (about -1,200) do not reach.

    ## Parameters
    Set by ``reset(options={name: value})``, ``set_attr`` or ``call``, drawn at every reset from their ranges
    when listed in ``reset(options={"randomize": [...]})`` (docs/envs.md). ``rod_mass`` and ``gravity`` take
    effect at the next reset, the others at once.

    | name | kind | default | range | meaning |
    |---|---|---|---|---|
    | max_torque | float | 2 | [0, 5] | the motor's torque limit (N·m); actions are scaled by it / 2 |
    | rod_mass | float | 1 | [0.25, 4] | rod mass (kg) |
    | gravity | float | 9.81 | [1, 20] | gravitational acceleration (m/s²) |
    | rod_colour | colour | (0.8, 0.25, 0.03) | [0, 1]³ | linear RGB |
    | sky_colour | colour | (0.6, 0.7, 0.8) | [0, 1]³ | the world's colour, linear RGB |
    """

    fps = 20
    parameters = {
        "max_torque": Parameter("float", 2.0, "the motor's torque limit (N·m); actions are scaled by it / 2", 0.0, 5.0),
        "rod_mass": Parameter("float", 1.0, "rod mass (kg)", 0.25, 4.0),
        "gravity": Parameter("float", 9.81, "gravitational acceleration (m/s²)", 1.0, 20.0),
        "rod_colour": Parameter("colour", (0.8, 0.25, 0.03), "linear RGB"),
        "sky_colour": building.SKY_COLOUR,
    }
    reset_options = frozenset({"state"})

    def __init__(self, substeps: int = 20) -> None:
        scene, adopted = building.scene_holding(SCENE_OBJECTS, self.fps, substeps)
        super().__init__(scene)
        self.dt = 1.0 / self.fps
        if not adopted:
            self._build()
        self.rod = scene.objects["Rod"]
        self.motor = scene.objects["Motor"].rigid_body_constraint
        self.observation_space = spaces.Box(
            np.array([-1.0, -1.0, -np.inf], dtype=np.float32), np.array([1.0, 1.0, np.inf], dtype=np.float32), dtype=np.float32
        )
        self.action_space = spaces.Box(-2.0, 2.0, (1,), dtype=np.float32)
        self.angles: deque[float] = deque(maxlen=3)
        self.observed_frame = -1
        self.torque = 0.0

    def _build(self) -> None:
        scene = self.scene
        base = building.add_box(scene, "Base", (0.2, 0.2, 0.2), PIVOT, 1.0, "PASSIVE")
        building.keep_out_of_collisions(base)
        rod = building.add_box(scene, "Rod", ROD_SIZE, (PIVOT[0], PIVOT[1], PIVOT[2] - ROD_SIZE[2] / 2), 1.0, "ACTIVE")
        building.keep_out_of_collisions(rod)
        # The hinge's axis is its local Z, turned onto world Y; the motor turns about its local X, also onto Y.
        building.add_constraint(scene, "Hinge", "HINGE", base, rod, PIVOT, (math.pi / 2, 0, 0))
        building.add_constraint(scene, "Motor", "MOTOR", base, rod, PIVOT, (0, 0, math.pi / 2)).use_motor_ang = True
        building.paint(base, (0.05, 0.05, 0.05, 1.0))
        building.paint(rod, (0.8, 0.25, 0.03, 1.0))
        building.add_camera(scene, (0.0, -6.0, PIVOT[2]), (math.pi / 2, 0.0, 0.0))
        building.light_and_sky(scene)

    # Parameters ---------------------------------------------------------------------------------------------

    def apply_parameters(self, changed: dict[str, Any]) -> None:
        # rod_mass and gravity are read by start_episode: a rigid-body edit mid-episode would restart the simulation.
        if "rod_colour" in changed:
            self.rod.active_material.diffuse_color = (*changed["rod_colour"], 1.0)
        if "sky_colour" in changed and self.scene.world is not None:
            self.scene.world.color = changed["sky_colour"]

    # SceneEnv hooks ---------------------------------------------------------------------------------------

    def start_episode(self, options: dict[str, Any]) -> None:
        self.rod.rigid_body.mass = self.params["rod_mass"]
        self.scene.gravity = (0.0, 0.0, -self.params["gravity"])
        if "state" in options:
            state = option_vector(options, "state", 2, "[theta, theta_dot]")
            theta, theta_dot = (float(value) for value in state)
        else:
            theta, theta_dot = float(self.np_random.uniform(-math.pi, math.pi)), float(self.np_random.uniform(-1.0, 1.0))
        # One frame before the start state, from where the launch frame carries the rod into it.
        self._place(theta - theta_dot * self.dt)
        self._drive(-theta_dot, LAUNCH_TORQUE)
        self.torque = 0.0

    def launch_episode(self) -> None:
        self.angles.clear()
        before = self._angle()
        self.advance_frame()
        self._drive(0.0, 0.0)
        after = self._angle()
        self.angles.extend([wrap(2 * before - after), before, after])
        self.observed_frame = self.frame

    def apply_action(self, action: Any) -> None:
        self.torque = float(np.clip(action[0], -2.0, 2.0)) * self.params["max_torque"] / 2.0
        self._drive(-math.copysign(UNREACHABLE_SPEED, self.torque), abs(self.torque))

    def observe(self) -> np.ndarray:
        if self.observed_frame != self.frame:
            self.angles.append(self._angle())
            self.observed_frame = self.frame
        older, old, theta = self.angles
        theta_dot = (3 * wrap(theta - old) - wrap(old - older)) / (2.0 * self.dt)
        return np.array([math.cos(theta), math.sin(theta), theta_dot], dtype=np.float32)

    def score(self, observation: np.ndarray) -> tuple[float, bool]:
        theta = math.atan2(float(observation[1]), float(observation[0]))
        theta_dot = float(observation[2])
        return -(theta**2 + 0.1 * theta_dot**2 + 0.001 * self.torque**2), False

    # Helpers --------------------------------------------------------------------------------------------------

    def _drive(self, velocity: float, torque: float) -> None:
        self.motor.motor_ang_target_velocity = velocity
        self.motor.motor_ang_max_impulse = torque

    def _angle(self) -> float:
        up = self.rod.matrix_world.col[2]
        return math.atan2(up[0], up[2])

    def _place(self, theta: float) -> None:
        half = ROD_SIZE[2] / 2
        self.rod.location = (PIVOT[0] + half * math.sin(theta), PIVOT[1], PIVOT[2] + half * math.cos(theta))
        self.rod.rotation_euler = (0.0, theta, 0.0)
