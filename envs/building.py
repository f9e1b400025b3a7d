"""Building blocks for env scenes made from code, so that they are the same on every Blender from 3.4 on.

Each helper encodes a rule that Blender's rigid-body physics imposes (docs/blender.md): meshes at their
true size, the constraint operator's context, collision settings that keep a body out of contacts.
"""

from __future__ import annotations

import bmesh
import bpy
from blendgym_blender import physics
from blendgym_blender.parameters import Parameter
from mathutils import Euler

Vector3 = tuple[float, float, float]
Colour = tuple[float, float, float, float]

# The plain sky the envs are lit under, and the parameter that recolours it.
SKY: Vector3 = (0.6, 0.7, 0.8)
SKY_COLOUR = Parameter("colour", SKY, "the world's colour, linear RGB")


def empty_physics_scene(fps: int, substeps: int) -> bpy.types.Scene:
    """Replace the open file with an empty one whose scene has a rigid-body world: ``substeps`` Bullet
    substeps per frame, ``fps`` frames per second, starting at frame 1."""
    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    scene.render.fps = fps
    scene.render.fps_base = 1.0
    scene.frame_start = 1
    bpy.ops.rigidbody.world_add()
    world = scene.rigidbody_world
    world.substeps_per_frame = substeps
    world.solver_iterations = 10
    if world.collection is None:
        world.collection = bpy.data.collections.new("RigidBodyWorld")
    return scene


def scene_holding(names: tuple[str, ...], fps: int, substeps: int) -> tuple[bpy.types.Scene, bool]:
    """The open file's scene if it holds every object in ``names`` and a rigid-body world (a user's file,
    used as it is: look, extra objects and substeps), else a new empty physics scene; and which it was.
    Either way the scene runs at ``fps`` frames per second."""
    scene = bpy.context.scene
    found = all(name in scene.objects for name in names) and scene.rigidbody_world is not None
    if not found:
        scene = empty_physics_scene(fps, substeps)
    scene.render.fps = fps
    scene.render.fps_base = 1.0
    return scene, found


def box_mesh(name: str, size: Vector3) -> bpy.types.Mesh:
    """A box mesh of ``size`` metres, centred on its origin."""
    mesh = bpy.data.meshes.new(name)
    shape = bmesh.new()
    bmesh.ops.create_cube(shape, size=1.0)
    bmesh.ops.scale(shape, vec=size, verts=shape.verts)
    shape.to_mesh(mesh)
    shape.free()
    return mesh


def cylinder_mesh(name: str, radius: float, height: float, segments: int = 32) -> bpy.types.Mesh:
    """A closed cylinder mesh about the local Z axis, centred on its origin."""
    mesh = bpy.data.meshes.new(name)
    shape = bmesh.new()
    bmesh.ops.create_cone(shape, cap_ends=True, cap_tris=False, segments=segments, radius1=radius, radius2=radius, depth=height)
    shape.to_mesh(mesh)
    shape.free()
    return mesh


def sphere_mesh(name: str, radius: float, segments: int = 32, rings: int = 16) -> bpy.types.Mesh:
    """A UV sphere mesh centred on its origin."""
    mesh = bpy.data.meshes.new(name)
    shape = bmesh.new()
    bmesh.ops.create_uvsphere(shape, u_segments=segments, v_segments=rings, radius=radius)
    shape.to_mesh(mesh)
    shape.free()
    return mesh


def add_body(
    scene: bpy.types.Scene,
    name: str,
    mesh: bpy.types.Mesh,
    location: Vector3,
    mass: float,
    kind: str,
    shape: str = "BOX",
    *,
    friction: float = 0.0,
    margin: float | None = None,
) -> bpy.types.Object:
    """A rigid body (``kind`` "ACTIVE" or "PASSIVE") made of ``mesh``, with the collision ``shape`` Blender
    fits to the mesh's bounds ("BOX", "CYLINDER", "SPHERE", ...).

    Frictionless unless ``friction`` is given (Blender's own default is 0.5): Bullet multiplies the two
    bodies' coefficients in a contact, so a body of friction 0 slides on anything. No damping (Blender's
    defaults are 0.04 and 0.1). ``margin`` (m) sets Bullet's collision margin; None keeps Blender's, 0.04 m,
    which rounds a primitive shape's edges by that radius: give a small one (0.001) to bodies that touch.
    """
    # The mesh is built at its true size: Bullet takes a body's inertia from the unscaled mesh, so a
    # scaled unit cube would fall ~25% too slowly.
    obj = bpy.data.objects.new(name, mesh)
    obj.location = location
    scene.collection.objects.link(obj)
    scene.rigidbody_world.collection.objects.link(obj)
    body = obj.rigid_body
    body.type = kind
    body.collision_shape = shape
    body.mass = mass
    body.friction = friction
    body.linear_damping = 0.0
    body.angular_damping = 0.0
    if margin is not None:
        body.use_margin = True
        body.collision_margin = margin
    return obj


def add_box(
    scene: bpy.types.Scene, name: str, size: Vector3, location: Vector3, mass: float, kind: str, *, friction: float = 0.0, margin: float | None = None
) -> bpy.types.Object:
    """A rigid box of ``size`` metres (``add_body`` with a box mesh): frictionless unless ``friction`` is given."""
    return add_body(scene, name, box_mesh(name, size), location, mass, kind, "BOX", friction=friction, margin=margin)


def collide_in(obj: bpy.types.Object, *groups: int) -> None:
    """Put a body in the collision collections ``groups`` (0 to 19) only: two bodies collide only if they
    share one."""
    obj.rigid_body.collision_collections = [index in groups for index in range(20)]


def keep_out_of_collisions(obj: bpy.types.Object) -> None:
    """Put a body in a collision group of its own, so that it only anchors constraints."""
    obj.rigid_body.collision_collections[0] = False
    obj.rigid_body.collision_collections[19] = True


def add_constraint(
    scene: bpy.types.Scene, name: str, kind: str, first: bpy.types.Object, second: bpy.types.Object, location: Vector3, rotation: Vector3
) -> bpy.types.RigidBodyConstraint:
    """A rigid-body constraint between two bodies, held by an empty at ``location`` turned by ``rotation``
    (Euler XYZ): ``physics.add_constraint``. Blender takes the pivot from the empty when the simulation starts."""
    return physics.add_constraint(scene, name, kind, first, second, location, Euler(rotation)).rigid_body_constraint


def paint(obj: bpy.types.Object, colour: Colour) -> bpy.types.Material:
    """Give ``obj`` a material of its own in ``colour`` (linear RGBA), which every renderer shows."""
    material = bpy.data.materials.new(obj.name)
    material.diffuse_color = colour
    obj.data.materials.append(material)
    return material


def add_camera(scene: bpy.types.Scene, location: Vector3, rotation: Vector3) -> bpy.types.Object:
    """The scene camera, at ``location`` turned by ``rotation`` (Euler XYZ)."""
    camera = bpy.data.objects.new("Camera", bpy.data.cameras.new("Camera"))
    camera.location = location
    camera.rotation_euler = rotation
    scene.collection.objects.link(camera)
    scene.camera = camera
    return camera


def light_and_sky(scene: bpy.types.Scene, sky: Vector3 = SKY) -> bpy.types.Object:
    """A sun, a plain ``sky`` world colour and the Standard view transform (colours as given); returns the sun."""
    sun = bpy.data.objects.new("Sun", bpy.data.lights.new("Sun", "SUN"))
    sun.rotation_euler = (0.6, 0.2, 0.0)
    scene.collection.objects.link(sun)
    scene.world = bpy.data.worlds.new("World")
    scene.world.color = sky
    scene.view_settings.view_transform = "Standard"
    scene.display.shading.color_type = "MATERIAL"
    return sun
