"""Shapes-v0: coloured shapes on a table, seen by a random camera under a random sun (docs/data.md).

A data generator (``blendgym_blender.generator.Generator``), registered as ``blendgym/Shapes-v0`` for
``blendgym.data.BlenderDataset``.

## Items

| | |
|---|---|
| Scene | a grey 6 × 6 m table top at z = 0 under a sun; ``max_objects`` object slots |
| Per item | 1 to ``max_objects`` objects, each a cube, sphere, cylinder or cone (``SHAPES``), of size 0.4–1.2 m, a random colour and a random turn about z, standing on the table inside 2.5 m of its centre; the camera on a ring of radius ``camera_distance`` ± 1 m, 2–5 m above the table, looking at its centre; the sun's direction |
| Objects | every visible shape, id 1, 2, ... in slot order; the table is never labelled but hides what lies behind it |
| Own labels | each object's ``"class"`` (its shape's name) and ``"class_id"`` (its index in ``SHAPES``) |

## Parameters

| name | kind | range | default | what |
|---|---|---|---|---|
| ``max_objects`` | int | 1–8 | 5 | most shapes in an item |
| ``camera_distance`` | float | 4–12 | 7.0 | horizontal distance of the camera from the table's centre, metres |
"""

from __future__ import annotations

import math
from typing import Any

import bmesh
import bpy
import numpy as np
from blendgym_blender.generator import Generator
from blendgym_blender.parameters import Parameter
from mathutils import Vector

from . import building

SHAPES = ("cube", "sphere", "cylinder", "cone")
SLOTS = 8
TABLE_SIZE = 6.0


def _shape_mesh(shape: str) -> bpy.types.Mesh:
    """A unit-size mesh of ``shape`` standing on z = 0, with one material slot that objects fill themselves."""
    mesh = bpy.data.meshes.new(shape)
    geometry = bmesh.new()
    if shape == "cube":
        bmesh.ops.create_cube(geometry, size=1.0)
    elif shape == "sphere":
        bmesh.ops.create_uvsphere(geometry, u_segments=24, v_segments=12, radius=0.5)
    else:
        bmesh.ops.create_cone(geometry, cap_ends=True, segments=24, radius1=0.5, radius2=0.5 if shape == "cylinder" else 0.0, depth=1.0)
    bmesh.ops.translate(geometry, vec=(0.0, 0.0, 0.5), verts=geometry.verts)
    geometry.to_mesh(mesh)
    geometry.free()
    mesh.materials.append(bpy.data.materials.new(f"{shape} (each object paints its own)"))
    return mesh


class Shapes(Generator):
    """See the module docstring."""

    parameters = {
        "max_objects": Parameter("int", 5, "most shapes in an item", 1, SLOTS),
        "camera_distance": Parameter("float", 7.0, "horizontal distance of the camera from the table's centre, metres", 4.0, 12.0),
    }

    def __init__(self) -> None:
        bpy.ops.wm.read_factory_settings(use_empty=True)
        super().__init__(bpy.context.scene)
        scene = self.scene
        self.sun = building.light_and_sky(scene, (0.55, 0.65, 0.8))
        self.camera = building.add_camera(scene, (0.0, -7.0, 4.0), (1.1, 0.0, 0.0))
        self.camera.data.lens = 35.0
        self.table = bpy.data.objects.new("Table", building.box_mesh("Table", (TABLE_SIZE, TABLE_SIZE, 0.1)))
        self.table.location = (0.0, 0.0, -0.05)
        scene.collection.objects.link(self.table)
        building.paint(self.table, (0.35, 0.35, 0.35, 1.0))
        self.meshes = {shape: _shape_mesh(shape) for shape in SHAPES}
        self.slots = []
        for index in range(SLOTS):
            obj = bpy.data.objects.new(f"Shape{index}", self.meshes[SHAPES[0]])
            scene.collection.objects.link(obj)
            obj.material_slots[0].link = "OBJECT"
            obj.material_slots[0].material = bpy.data.materials.new(f"Shape{index}")
            self.slots.append(obj)

    def generate(self, rng: np.random.Generator) -> dict[str, Any]:
        count = int(rng.integers(1, self.params["max_objects"] + 1))
        classes = {}
        for index, obj in enumerate(self.slots):
            # Every slot draws the same numbers whether it shows or not, so that an item does not depend on
            # how many objects the previous one had.
            shape = int(rng.integers(len(SHAPES)))
            size = rng.uniform(0.4, 1.2, size=3)
            radius, angle, turn = 2.5 * math.sqrt(rng.uniform()), rng.uniform(0, 2 * math.pi), rng.uniform(0, 2 * math.pi)
            colour = rng.uniform(0.05, 1.0, size=3)
            obj.hide_render = index >= count
            if obj.hide_render:
                continue
            obj.data = self.meshes[SHAPES[shape]]
            obj.location = (radius * math.cos(angle), radius * math.sin(angle), 0.0)
            obj.rotation_euler = (0.0, 0.0, turn)
            obj.scale = (size[0], size[0] if SHAPES[shape] != "cube" else size[1], size[2])
            obj.active_material.diffuse_color = (*colour, 1.0)
            classes[obj.name] = {"class": SHAPES[shape], "class_id": shape}
        distance = self.params["camera_distance"] + rng.uniform(-1.0, 1.0)
        bearing, height = rng.uniform(0, 2 * math.pi), rng.uniform(2.0, 5.0)
        self.camera.location = (distance * math.cos(bearing), distance * math.sin(bearing), height)
        self.camera.rotation_euler = (Vector((0.0, 0.0, 0.3)) - self.camera.location).to_track_quat("-Z", "Y").to_euler()
        self.sun.rotation_euler = (rng.uniform(0.2, 1.0), 0.0, rng.uniform(0, 2 * math.pi))
        return {"objects": classes}

    def labelled_objects(self) -> list[bpy.types.Object]:
        return [obj for obj in self.slots if not obj.hide_render]
