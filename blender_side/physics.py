"""Bodies, joints and actuators for rigid-body envs, so that an env reads like its physics (docs/envs.md,
"The physics toolkit").

Blender's rigid-body world exposes poses only (docs/blender.md, "Rigid bodies, constraints and motors"): no
velocity, no impulse, no way to apply a torque. This module builds what a task needs on top of it:

- ``Body``: a rigid body's position, orientation and linear and angular velocity, the velocities measured
  from the poses of the last three simulated frames (second-order backward differences), so that they
  belong to the current frame.
- ``Hinge`` and ``Slider``: a joint between a parent and a child body, with its coordinate (angle in rad or
  displacement in m) and velocity, optional joint damping, and an actuator in one of three modes:
  ``set_effort`` (torque in N·m or force in N, whatever the substeps), ``set_velocity`` (a target velocity
  with an effort limit) and ``set_target`` (a PD position target with gains and an effort limit).
- ``Articulation``: the joints of one mechanism; it records every frame, applies the actuators before each
  frame's physics, and sets every joint's start position and velocity exactly for an episode
  (``place`` in ``start_episode``, ``launch`` in ``launch_episode``).
- Free bodies' start states: ``Body.place`` poses a body and gives it a start velocity, which the launch
  frame (``launch``) produces with stiff motors along the three world axes.
- ``touching``: whether two bodies' surfaces touch, and where (from their meshes, to a tolerance).

The motor rule behind the actuators: a MOTOR constraint turns about (or moves along) its empty's local X
and drives its object1 relative to its object2; here object1 is the child, so a positive target moves the
joint coordinate up. A HINGE turns about its empty's local Z and a SLIDER moves along its X: each joint
builds both constraints with their empties turned onto the joint's axis.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from typing import TYPE_CHECKING, Literal

import bpy
import numpy as np
from mathutils import Euler, Matrix, Quaternion, Vector
from mathutils.bvhtree import BVHTree

if TYPE_CHECKING:
    from .env import SceneEnv

Vector3 = tuple[float, float, float]
# A target velocity no joint reaches: with it, the motor's effort limit is the effort it applies.
UNREACHABLE_SPEED = 1.0e6
# The effort limit of the motors that set the start velocities during the launch frame: stiff enough to
# hold any start velocity against gravity and the other bodies.
LAUNCH_EFFORT = 1.0e5
# The passive body that free bodies' launch motors push against.
LAUNCH_GROUND = "blendgymLaunchGround"
# An empty's local axes, by name.
AXES: dict[str, Vector3] = {"X": (1.0, 0.0, 0.0), "Y": (0.0, 1.0, 0.0), "Z": (0.0, 0.0, 1.0)}


def wrap(angle: float) -> float:
    """``angle`` in [-π, π)."""
    return (angle + math.pi) % (2 * math.pi) - math.pi


class Body:
    """A rigid body's state, read from its simulated pose.

    ``record(frame)`` keeps the pose of each simulated frame (the env calls it before each frame's physics
    and when it observes); the velocities come from the last three. After a reset, ``restart`` sets the
    history from the start pose and velocities, so that the first observation's velocity is the start one.
    """

    def __init__(self, obj: bpy.types.Object, dt: float) -> None:
        self.obj = obj
        self.dt = dt
        self.positions: deque[np.ndarray] = deque(maxlen=3)
        self.rotations: deque[np.ndarray] = deque(maxlen=3)
        self.recorded_frame = -1
        self.start_location = Vector(obj.location)
        self.launch_velocity = Vector((0.0, 0.0, 0.0))
        self.launchers: list[bpy.types.RigidBodyConstraint] = []

    def place(self, location: Vector3, linear_velocity: Vector3 = (0.0, 0.0, 0.0), rotation: Vector3 | None = None) -> None:
        """Start the episode with the body's origin at ``location`` (and turned by ``rotation``, Euler XYZ, if
        given), moving at ``linear_velocity``. Call it in ``start_episode``; ``launch`` then runs the launch
        frame, in which three stiff motors, one along each world axis, move the body from one frame's travel
        before ``location`` to it at that velocity, and let go. Blender has no other way to give a body a
        velocity that works on every release (a kinematic body's last motion carries on in bpy 4.5, not in 3.4)."""
        self.start_location = Vector(location)
        self.launch_velocity = Vector(linear_velocity)
        self.obj.location = self.start_location - self.launch_velocity * self.dt
        if rotation is not None:
            self.obj.rotation_euler = rotation
        if not self.launchers:
            scene = self.obj.users_scene[0]
            ground = _ground(scene)
            for axis, direction in AXES.items():
                anchor = add_constraint(
                    scene, f"{self.obj.name}Launch{axis}", "MOTOR", self.obj, ground, tuple(self.start_location), _turn_onto("X", Vector(direction))
                )
                anchor.rigid_body_constraint.use_motor_lin = True
                self.launchers.append(anchor.rigid_body_constraint)
        for launcher, speed in zip(self.launchers, self.launch_velocity, strict=True):
            launcher.enabled = True
            launcher.motor_lin_target_velocity = speed
            launcher.motor_lin_max_impulse = LAUNCH_EFFORT

    def record(self, frame: int) -> None:
        if frame == self.recorded_frame:
            return
        matrix = np.array(self.obj.matrix_world, dtype=np.float64)
        self.positions.append(matrix[:3, 3])
        self.rotations.append(matrix[:3, :3])
        self.recorded_frame = frame

    def restart(self, frame: int, linear_velocity: Vector3 = (0.0, 0.0, 0.0), angular_velocity: Vector3 = (0.0, 0.0, 0.0)) -> None:
        """Forget the previous episode: the history becomes the current pose moved back by the start velocities."""
        matrix = np.array(self.obj.matrix_world, dtype=np.float64)
        velocity, spin = np.asarray(linear_velocity, dtype=np.float64), np.asarray(angular_velocity, dtype=np.float64)
        self.positions.clear()
        self.rotations.clear()
        for steps in (-2, -1, 0):
            self.positions.append(matrix[:3, 3] + velocity * (steps * self.dt))
            self.rotations.append(_rotation(spin * (steps * self.dt)) @ matrix[:3, :3])
        self.recorded_frame = frame

    @property
    def position(self) -> np.ndarray:
        """World position of the body's origin (m)."""
        return np.array(self.obj.matrix_world.translation, dtype=np.float64)

    @property
    def quaternion(self) -> np.ndarray:
        """World orientation as a unit quaternion (w, x, y, z)."""
        return np.array(self.obj.matrix_world.to_quaternion(), dtype=np.float64)

    @property
    def linear_velocity(self) -> np.ndarray:
        """World velocity of the body's origin (m/s) at the last recorded frame."""
        oldest, older, newest = self.positions
        return (3.0 * newest - 4.0 * older + oldest) / (2.0 * self.dt)

    @property
    def angular_velocity(self) -> np.ndarray:
        """World angular velocity (rad/s) at the last recorded frame."""
        oldest, older, newest = self.rotations
        # The rotation vectors of the two frame-to-frame turns, combined as the positions' differences are.
        recent, earlier = _rotation_vector(newest @ older.T), _rotation_vector(older @ oldest.T)
        return (3.0 * recent - earlier) / (2.0 * self.dt)


def _rotation_vector(turn: np.ndarray) -> np.ndarray:
    """The rotation vector (axis × angle) of rotation matrix ``turn``, accurate for small angles."""
    vee = np.array([turn[2, 1] - turn[1, 2], turn[0, 2] - turn[2, 0], turn[1, 0] - turn[0, 1]]) / 2.0
    sine = float(np.linalg.norm(vee))
    if sine == 0.0:
        return np.zeros(3)
    angle = math.atan2(sine, (float(np.trace(turn)) - 1.0) / 2.0)
    return vee / sine * angle


def _rotation(vector: np.ndarray) -> np.ndarray:
    """The rotation matrix of rotation vector ``vector``."""
    angle = float(np.linalg.norm(vector))
    if angle == 0.0:
        return np.eye(3)
    return np.array(Matrix.Rotation(angle, 3, Vector(vector / angle)), dtype=np.float64)


def add_constraint(
    scene: bpy.types.Scene,
    name: str,
    kind: str,
    object1: bpy.types.Object,
    object2: bpy.types.Object,
    location: Vector3,
    rotation: Euler | Quaternion,
) -> bpy.types.Object:
    """A rigid-body constraint of ``kind`` between two bodies, held by an empty at ``location`` turned by
    ``rotation``; returns the empty (its ``rigid_body_constraint`` is the constraint). Blender takes the
    constraint's frame from the empty when the simulation starts; a motor drives object1 relative to object2."""
    anchor = bpy.data.objects.new(name, None)
    anchor.location = location
    if isinstance(rotation, Quaternion):
        anchor.rotation_mode = "QUATERNION"
        anchor.rotation_quaternion = rotation
    else:
        anchor.rotation_euler = rotation
    scene.collection.objects.link(anchor)
    scene.view_layers[0].objects.active = anchor
    # In Blender's UI, read_factory_settings leaves the script's context without a window, and the
    # operator finds no active object unless it is given one (it crashes on 3.4 without the line above).
    with bpy.context.temp_override(object=anchor, active_object=anchor):
        bpy.ops.rigidbody.constraint_add()
    constraint = anchor.rigid_body_constraint
    constraint.type = kind
    constraint.object1 = object1
    constraint.object2 = object2
    return anchor


def _turn_onto(local: str, direction: Vector) -> Quaternion:
    """The shortest turn that takes an empty's local axis ``local`` ("X", "Y" or "Z") onto ``direction``."""
    return Vector(AXES[local]).rotation_difference(direction)


def _ground(scene: bpy.types.Scene) -> bpy.types.Object:
    """The scene's launch ground: a passive body that touches nothing, against which free bodies' launch
    motors push (made on first use)."""
    ground = scene.objects.get(LAUNCH_GROUND)
    if ground is not None:
        return ground
    mesh = bpy.data.meshes.new(LAUNCH_GROUND)
    mesh.from_pydata(
        [(-0.01, -0.01, -0.01), (0.01, -0.01, -0.01), (0.0, 0.01, -0.01), (0.0, 0.0, 0.01)], [], [(0, 1, 2), (0, 1, 3), (1, 2, 3), (2, 0, 3)]
    )
    ground = bpy.data.objects.new(LAUNCH_GROUND, mesh)
    scene.collection.objects.link(ground)
    scene.rigidbody_world.collection.objects.link(ground)
    ground.rigid_body.type = "PASSIVE"
    ground.rigid_body.collision_shape = "BOX"
    ground.rigid_body.collision_collections = [False] * 20
    ground.hide_render = True
    return ground


Mode = Literal["off", "effort", "velocity", "target"]


class Joint:
    """A one-degree-of-freedom joint between ``parent`` and ``child`` with a motor; ``Hinge`` and ``Slider``."""

    kind: str  # Blender's constraint type
    constraint_axis: str  # the local axis of the constraint's empty along which the joint moves

    def __init__(
        self,
        scene: bpy.types.Scene,
        name: str,
        parent: bpy.types.Object,
        child: bpy.types.Object,
        pivot: Vector3,
        axis: Vector3,
        dt: float,
        damping: float = 0.0,
        limits: tuple[float, float] | None = None,
    ) -> None:
        """Build the joint's constraint and motor, the child at coordinate 0 in its current pose.

        ``pivot`` and ``axis`` are in world coordinates; ``damping`` (N·m·s/rad or N·s/m) resists the joint's
        velocity, added to whatever the actuator applies; ``limits`` (lower, upper), in the joint's
        coordinate, are stops the joint cannot pass.
        """
        self.name = name
        self.parent, self.child = parent, child
        self.dt = dt
        self.damping = damping
        if limits is not None and not limits[0] < limits[1]:
            raise ValueError(f"joint {name!r}: limits must be (lower, upper) with lower < upper, got {limits!r}")
        self.limits = limits
        direction = Vector(axis).normalized()
        # matrix_world follows an object's new location only once the view layer is updated.
        scene.view_layers[0].update()
        parent_inverse = parent.matrix_world.inverted()
        # Everything the joint needs is kept in the parent's frame, so that ``place`` can pose the child
        # wherever the parent is.
        self.axis = (parent_inverse.to_3x3() @ direction).normalized()
        self.pivot = parent_inverse @ Vector(pivot)
        self.rest = parent_inverse @ child.matrix_world
        # object1 is the child: the motor then drives the child relative to the parent, positive forward.
        self.anchors = [
            add_constraint(scene, name, self.kind, child, parent, pivot, _turn_onto(self.constraint_axis, direction)),
            add_constraint(scene, f"{name}Motor", "MOTOR", child, parent, pivot, _turn_onto("X", direction)),
        ]
        self._enable_motor(self.anchors[1].rigid_body_constraint)
        self.anchor_rests = [parent_inverse @ anchor.matrix_world for anchor in self.anchors]
        self.motor = self.anchors[1].rigid_body_constraint
        # The effort the motor applied in the last frame (signed; for control costs). In velocity mode and
        # during the launch frame it is the limit, not what the motor needed.
        self.mode: Mode = "off"
        self.command = 0.0
        self.limit = 0.0
        self.gains = (0.0, 0.0)
        self.effort = 0.0
        self.history: deque[float] = deque(maxlen=3)
        self.recorded_frame = -1
        self._drive(0.0, 0.0)
        self._set_limits(0.0)

    # Implemented by Hinge and Slider --------------------------------------------------------------------

    def _enable_motor(self, constraint: bpy.types.RigidBodyConstraint) -> None:
        raise NotImplementedError

    def _set_motor(self, velocity: float, effort: float) -> None:
        raise NotImplementedError

    def _coordinate(self, relative: Matrix) -> float:
        """The joint coordinate of the child's pose ``relative`` to the parent."""
        raise NotImplementedError

    def _moved(self, coordinate: float) -> Matrix:
        """The parent-frame transform that moves the child from coordinate 0 to ``coordinate``."""
        raise NotImplementedError

    def _difference(self, newer: float, older: float) -> float:
        return newer - older

    def _limit(self, constraint: bpy.types.RigidBodyConstraint, lower: float, upper: float) -> None:
        raise NotImplementedError

    def _set_limits(self, coordinate: float) -> None:
        # Blender measures a constraint's limits from the pose its bodies have when the simulation starts,
        # which is where ``place`` leaves the child: the stops are shifted by that coordinate.
        if self.limits is not None:
            self._limit(self.anchors[0].rigid_body_constraint, self.limits[0] - coordinate, self.limits[1] - coordinate)

    # State ----------------------------------------------------------------------------------------------

    def record(self, frame: int) -> None:
        if frame == self.recorded_frame:
            return
        self.history.append(self._coordinate(self.parent.matrix_world.inverted() @ self.child.matrix_world))
        self.recorded_frame = frame

    @property
    def position(self) -> float:
        """The joint coordinate at the last recorded frame: rad for a hinge, m for a slider, 0 as built."""
        return self.history[-1]

    @property
    def velocity(self) -> float:
        """The joint velocity at the last recorded frame (rad/s or m/s)."""
        oldest, older, newest = self.history
        recent, earlier = self._difference(newest, older), self._difference(older, oldest)
        return (3.0 * recent - earlier) / (2.0 * self.dt)

    # Actuators ------------------------------------------------------------------------------------------

    def set_effort(self, effort: float) -> None:
        """Apply ``effort`` (N·m for a hinge, N for a slider) from the next frame on, positive driving the
        coordinate up, whatever the number of substeps."""
        self.mode, self.command = "effort", float(effort)

    def set_velocity(self, velocity: float, max_effort: float) -> None:
        """Drive the joint at ``velocity`` with at most ``max_effort``."""
        self.mode, self.command, self.limit = "velocity", float(velocity), abs(float(max_effort))

    def set_target(self, position: float, stiffness: float, damping: float, max_effort: float) -> None:
        """Hold the joint at ``position`` with a PD controller: effort = stiffness·error − damping·velocity,
        clipped to ``max_effort``, worked out again before every frame."""
        self.mode, self.command, self.limit = "target", float(position), abs(float(max_effort))
        self.gains = (float(stiffness), float(damping))

    def release(self) -> None:
        """No actuator: the joint moves freely (apart from its damping)."""
        self.mode, self.command = "off", 0.0

    def before_frame(self) -> None:
        """Put the actuator's effort for the coming frame into the motor (the Articulation calls it)."""
        if self.mode == "velocity":
            # Bullet's motor holds the velocity itself; the joint's damping does not add to it.
            self._drive(self.command, self.limit)
            return
        velocity = self.velocity
        effort = -self.damping * velocity
        if self.mode == "effort":
            effort += self.command
        elif self.mode == "target":
            stiffness, gain = self.gains
            effort += float(np.clip(stiffness * self._difference(self.command, self.position) - gain * velocity, -self.limit, self.limit))
        self._drive(math.copysign(UNREACHABLE_SPEED, effort), abs(effort))

    def _drive(self, velocity: float, effort: float) -> None:
        self.effort = math.copysign(effort, velocity)
        self._set_motor(velocity, effort)

    # Start states ---------------------------------------------------------------------------------------

    def place(self, parent_world: Matrix, coordinate: float) -> Matrix:
        """Pose the child (and the joint's empties) at ``coordinate`` with the parent at ``parent_world``;
        returns the child's world matrix."""
        if self.limits is not None and not self.limits[0] <= coordinate <= self.limits[1]:
            raise ValueError(f"joint {self.name!r}: coordinate {coordinate} is outside its limits {self.limits}")
        child_world = parent_world @ self._moved(coordinate) @ self.rest
        self.child.matrix_world = child_world
        self._set_limits(coordinate)
        for anchor, rest in zip(self.anchors, self.anchor_rests, strict=True):
            # Blender takes a constraint's frames from its empty when the simulation starts: the empties
            # follow the parent, so that the pivot and the axis stay where the parent holds them.
            anchor.matrix_world = parent_world @ rest
        return child_world


class Hinge(Joint):
    """A hinge: the child turns about ``axis`` through ``pivot``; coordinate in rad, right-handed about the axis."""

    kind = "HINGE"
    constraint_axis = "Z"

    def _enable_motor(self, constraint: bpy.types.RigidBodyConstraint) -> None:
        constraint.use_motor_ang = True

    def _set_motor(self, velocity: float, effort: float) -> None:
        self.motor.motor_ang_target_velocity = velocity
        self.motor.motor_ang_max_impulse = effort

    def _coordinate(self, relative: Matrix) -> float:
        # From the rotation matrix's elements, not a quaternion: Blender's matrices are single precision,
        # and a quaternion's w = cos(θ/2) rounds small angles (below ~3e-4 rad) to exactly 0.
        turn = (relative @ self.rest.inverted()).to_3x3()
        sine = Vector((turn[2][1] - turn[1][2], turn[0][2] - turn[2][0], turn[1][0] - turn[0][1])).dot(self.axis) / 2.0
        cosine = (turn[0][0] + turn[1][1] + turn[2][2] - 1.0) / 2.0
        return math.atan2(sine, cosine)

    def _moved(self, coordinate: float) -> Matrix:
        pivot = Matrix.Translation(self.pivot)
        return pivot @ Matrix.Rotation(coordinate, 4, self.axis) @ pivot.inverted()

    def _difference(self, newer: float, older: float) -> float:
        return wrap(newer - older)

    def _limit(self, constraint: bpy.types.RigidBodyConstraint, lower: float, upper: float) -> None:
        constraint.use_limit_ang_z = True
        constraint.limit_ang_z_lower, constraint.limit_ang_z_upper = lower, upper


class Slider(Joint):
    """A slider: the child moves along ``axis``; coordinate in m."""

    kind = "SLIDER"
    constraint_axis = "X"

    def _enable_motor(self, constraint: bpy.types.RigidBodyConstraint) -> None:
        constraint.use_motor_lin = True

    def _set_motor(self, velocity: float, effort: float) -> None:
        self.motor.motor_lin_target_velocity = velocity
        self.motor.motor_lin_max_impulse = effort

    def _coordinate(self, relative: Matrix) -> float:
        return float((relative.to_translation() - self.rest.to_translation()).dot(self.axis))

    def _moved(self, coordinate: float) -> Matrix:
        return Matrix.Translation(self.axis * coordinate)

    def _limit(self, constraint: bpy.types.RigidBodyConstraint, lower: float, upper: float) -> None:
        # Bullet's slider measures the parent's offset from the child (object2's from object1's): the stops
        # change sign (measured, tests/test_physics.py).
        constraint.use_limit_lin_x = True
        constraint.limit_lin_x_lower, constraint.limit_lin_x_upper = -upper, -lower


class Articulation:
    """The joints of one mechanism, in order from the root (each joint's parent is posed before its child).

    Call ``before_frame(frame)`` before every frame's physics (in ``apply_action``), ``record(frame)`` when
    observing, ``place`` in ``start_episode`` and ``launch`` in ``launch_episode``.
    """

    def __init__(self, joints: Sequence[Joint]) -> None:
        self.joints = list(joints)
        self.launch_velocities = [0.0] * len(self.joints)

    @property
    def positions(self) -> np.ndarray:
        return np.array([joint.position for joint in self.joints])

    @property
    def velocities(self) -> np.ndarray:
        return np.array([joint.velocity for joint in self.joints])

    def record(self, frame: int) -> None:
        for joint in self.joints:
            joint.record(frame)

    def before_frame(self, frame: int) -> None:
        self.record(frame)
        for joint in self.joints:
            joint.before_frame()

    def place(self, positions: Sequence[float], velocities: Sequence[float]) -> None:
        """Pose the mechanism one frame before the start state (``positions``, ``velocities``), from where
        ``launch`` carries it into that state. Call it in ``start_episode``."""
        if len(positions) != len(self.joints) or len(velocities) != len(self.joints):
            raise ValueError(
                f"{len(self.joints)} joints take {len(self.joints)} positions and velocities, got {len(positions)} and {len(velocities)}"
            )
        placed: dict[str, Matrix] = {}
        for joint, position, velocity in zip(self.joints, positions, velocities, strict=True):
            parent_world = placed.get(joint.parent.name, joint.parent.matrix_world.copy())
            placed[joint.child.name] = joint.place(parent_world, float(position) - float(velocity) * joint.dt)
            joint._drive(float(velocity), LAUNCH_EFFORT)
        self.launch_velocities = [float(velocity) for velocity in velocities]

    def launch(self, env: SceneEnv, bodies: Sequence[Body] = ()) -> None:
        """Run the launch frame (``launch``) for these joints and the free ``bodies``. Call it in ``launch_episode``."""
        launch(env, [self], bodies)


def launch(env: SceneEnv, articulations: Sequence[Articulation] = (), bodies: Sequence[Body] = ()) -> None:
    """Run the launch frame of ``env`` and carry every placed joint and body into its start state.

    During the frame every joint and every body moves at its start velocity (stiff motors); afterwards the
    actuators are released, the bodies are simulated again, and each velocity history is the one its start
    velocity leaves behind, so that the first observation shows the start velocities. Call it in
    ``launch_episode``, after ``Articulation.place`` and ``Body.place`` in ``start_episode``.
    """
    env.advance_frame()
    for articulation in articulations:
        for joint, velocity in zip(articulation.joints, articulation.launch_velocities, strict=True):
            joint._drive(0.0, 0.0)
            joint.release()
            joint.history.clear()
            joint.recorded_frame = -1
            joint.record(env.frame)
            # The stiff motor ended the launch frame at the start velocity: the history is the one that
            # velocity leaves behind.
            position = joint.history[-1]
            joint.history.extendleft([position - velocity * joint.dt, position - 2 * velocity * joint.dt])
    for body in bodies:
        for launcher in body.launchers:
            launcher.enabled = False
        body.restart(env.frame, tuple(body.launch_velocity))


def _reach(obj: bpy.types.Object) -> float:
    """The radius about its origin of the sphere that holds the object's mesh."""
    return max(Vector(corner).length for corner in obj.bound_box) * max(obj.matrix_world.to_scale())


def _world_vertices(obj: bpy.types.Object) -> list[Vector]:
    matrix = obj.matrix_world
    return [matrix @ vertex.co for vertex in obj.data.vertices]


def touching(first: bpy.types.Object, second: bpy.types.Object, tolerance: float = 1e-3) -> np.ndarray | None:
    """Where the surfaces of two bodies' meshes, in their simulated poses, touch, in world coordinates; None
    where they do not.

    Bullet keeps its contacts to itself (docs/blender.md), so this reads the geometry: the bodies touch where
    a mesh vertex of either lies within ``tolerance`` (m) of the other's surface, and the point is the mean
    of those vertices: the middle of a face lying on another, the corner or the edge that touches a face (a
    cylinder's facets put its edge within r·(1 − cos(π/n)) of the true surface: 0.2 mm for 4 cm and 32
    facets). A resting contact sits within the bodies' collision margins (``building.add_body``'s
    ``margin``): give a tolerance above their sum. Two edges that cross with no vertex near count only once
    the surfaces intersect (then the point is where: docs/envs.md, "Contacts").
    """
    gap = (first.matrix_world.translation - second.matrix_world.translation).length - _reach(first) - _reach(second)
    if gap > tolerance:
        return None  # their bounding spheres are apart: most calls end here, in microseconds
    first_vertices, second_vertices = _world_vertices(first), _world_vertices(second)
    first_surface = BVHTree.FromPolygons(first_vertices, [tuple(polygon.vertices) for polygon in first.data.polygons])
    second_surface = BVHTree.FromPolygons(second_vertices, [tuple(polygon.vertices) for polygon in second.data.polygons])
    near = [vertex for vertex in first_vertices if second_surface.find_nearest(vertex, tolerance)[0] is not None]
    near += [vertex for vertex in second_vertices if first_surface.find_nearest(vertex, tolerance)[0] is not None]
    if not near:
        # No vertex near: crossing edges, which count once the surfaces intersect, at the nearest points.
        for index, _ in first_surface.overlap(second_surface):
            on_second = second_surface.find_nearest(first_vertices[first.data.polygons[index].vertices[0]])[0]
            if on_second is not None:
                near.append(on_second)
    return np.mean(np.array(near, dtype=np.float64), axis=0) if near else None
