"""The images and labels of a data item, made from the scene as a generator posed it (docs/data.md, "Labels").

- ``rgb``: the scene camera's image from the chosen renderer (render.py), H×W×3 uint8.
- ``depth``, ``segmentation``, ``boxes``: from one more drawing of every rendered mesh with Blender's ``gpu``
  module (the *id pass*), in which each labelled object is painted in the colour that spells its id and
  everything else in 0. Its colour buffer is the instance segmentation (H×W uint16, 0 where no labelled
  object shows); its depth buffer, turned into metres along the camera's axis, the depth (H×W float32, inf
  where nothing is). The same camera matrices as the renderers and the projections are used, whatever the
  renderer of the RGB image, so every label lines up with it.
- Boxes are the pixel boxes of each object's visible pixels; its visibility is the share of the pixels it
  would cover alone that show (each labelled object drawn alone once more).
- Every item carries its objects' poses, their projected origins and bounding-box corners, and the camera's
  intrinsics and extrinsics, which cost no rendering.
"""

from __future__ import annotations

from typing import Any

import bpy
import gpu
import numpy as np
from gpu_extras.batch import batch_for_shader
from mathutils import Vector

from . import render
from .view import ViewSettings

# A labelled object's id is painted as the colour (id mod 256, id div 256, 0): ids fit 16 bits.
MAX_OBJECTS = 65535
ID_PASS_OUTPUTS = frozenset({"depth", "segmentation", "boxes"})
# OpenCV's camera axes (x right, y down, z forward) from Blender's (x right, y up, z backward).
BLENDER_TO_OPENCV = np.diag([1.0, -1.0, -1.0, 1.0])


class IdPass:
    """Draws every rendered mesh offscreen, labelled objects in the colour of their id, and reads the ids and
    the depth back."""

    def __init__(self, scene: bpy.types.Scene, camera: render.Camera) -> None:
        render.create_gpu_context(scene)
        self.scene = scene
        self.camera = camera
        self.width, self.height = camera.width, camera.height
        self.shader = _id_shader()
        self.offscreen = gpu.types.GPUOffScreen(self.width, self.height)
        self.batches: dict[str, Any] = {}
        self.colour = np.empty(self.width * self.height * 4, dtype=np.uint8)
        self.depth = np.empty(self.width * self.height, dtype=np.float32)

    def draw(self, labelled: list[bpy.types.Object], depth: bool) -> tuple[np.ndarray, np.ndarray | None]:
        """The H×W ids (uint16) and, if ``depth``, the H×W depth in metres (float32, inf where nothing is),
        top row first."""
        ids = {obj.name: index + 1 for index, obj in enumerate(labelled)}
        view_projection = self.camera.view_projection()
        with self.offscreen.bind():
            framebuffer = gpu.state.active_framebuffer_get()
            self._begin(framebuffer, "LESS_EQUAL")
            for obj in self.scene.objects:
                if obj.type == "MESH" and not obj.hide_render:
                    self._draw(obj, view_projection, _id_colour(ids.get(obj.name, 0)))
            gpu.state.depth_test_set("NONE")
            framebuffer.read_color(0, 0, self.width, self.height, 4, 0, "UBYTE", data=gpu.types.Buffer("UBYTE", self.colour.size, self.colour))
            if depth:
                framebuffer.read_depth(0, 0, self.width, self.height, data=gpu.types.Buffer("FLOAT", self.depth.size, self.depth))
        # Red and green hold the id's low and high byte: the low half of each little-endian pixel word.
        id_image = (self.colour.view("<u4") & 0xFFFF).astype(np.uint16).reshape(self.height, self.width)[::-1].copy()
        return id_image, self._metres(self.depth.reshape(self.height, self.width)[::-1]) if depth else None

    def footprints(self, objects: list[bpy.types.Object], windows: list[tuple[slice, slice]]) -> list[int]:
        """How many pixels each object covers with nothing in front of it, counted inside its ``window`` (rows,
        columns, top row first). Four objects share a drawing: each adds to a colour channel of its own, with
        depth testing off."""
        view_projection = self.camera.view_projection()
        counts = []
        for first in range(0, len(objects), 4):
            group = objects[first : first + 4]
            with self.offscreen.bind():
                framebuffer = gpu.state.active_framebuffer_get()
                self._begin(framebuffer, "NONE")
                # Source plus destination, channel by channel (plain ADDITIVE weighs the source by its alpha).
                gpu.state.blend_set("ADDITIVE_PREMULT")
                for channel, obj in enumerate(group):
                    self._draw(obj, view_projection, tuple(1.0 if index == channel else 0.0 for index in range(4)))
                gpu.state.blend_set("NONE")
                framebuffer.read_color(0, 0, self.width, self.height, 4, 0, "UBYTE", data=gpu.types.Buffer("UBYTE", self.colour.size, self.colour))
            image = self.colour.reshape(self.height, self.width, 4)[::-1]
            counts += [int(np.count_nonzero(image[rows, columns, channel])) for channel, (rows, columns) in enumerate(windows[first : first + 4])]
        return counts

    def close(self) -> None:
        self.offscreen.free()
        self.batches.clear()

    def _begin(self, framebuffer: Any, depth_test: str) -> None:
        framebuffer.clear(color=(0.0, 0.0, 0.0, 0.0), depth=1.0)
        gpu.state.depth_test_set(depth_test)
        gpu.state.depth_mask_set(True)
        self.shader.bind()

    def _draw(self, obj: bpy.types.Object, view_projection: Any, colour: tuple[float, ...]) -> None:
        self.shader.uniform_float("model_view_projection", view_projection @ obj.matrix_world)
        self.shader.uniform_float("color", colour)
        key = f"{obj.name}\0{obj.data.name}"
        batch = self.batches.get(key)
        if batch is None:
            positions, _ = render.triangles(obj)
            batch = self.batches[key] = batch_for_shader(self.shader, "TRIS", {"position": positions})
        batch.draw(self.shader)

    def _metres(self, buffer: np.ndarray) -> np.ndarray:
        """Distance along the camera's axis from the depth buffer's [0, 1] values (1 where nothing was drawn)."""
        p = np.array(self.camera.projection())
        # Solved from ndc = (P22 z + P23) / (P32 z + P33), ndc = 2 buffer - 1, for the eye-space z (negative
        # ahead); float64, for a 24-bit buffer's far values lose centimetres in float32 arithmetic.
        ndc = buffer * 2.0 - 1.0
        with np.errstate(divide="ignore", invalid="ignore"):
            distance = (p[2, 3] - ndc * p[3, 3]) / (p[2, 2] - ndc * p[3, 2])
        distance[buffer >= 1.0] = np.inf
        return distance.astype(np.float32)


class Labeller:
    """Makes an item's arrays and labels from the posed scene: ``outputs`` among ``view.OUTPUTS``, images of
    ``settings.width`` × ``settings.height`` through ``settings.renderer``."""

    def __init__(self, scene: bpy.types.Scene, settings: ViewSettings, directory: str) -> None:
        self.scene = scene
        self.outputs = frozenset(settings.outputs)
        self.camera = render.Camera(scene, settings.width, settings.height)
        self.renderer = render.make_renderer(scene, settings, directory) if "rgb" in self.outputs else None
        self.id_pass = IdPass(scene, self.camera) if self.outputs & ID_PASS_OUTPUTS else None

    def label(self, labelled: list[bpy.types.Object], own: dict[str, Any]) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """The item's labels (``own`` included) and arrays, for ``labelled`` objects in id order."""
        if len(labelled) > MAX_OBJECTS:
            raise ValueError(f"{len(labelled)} labelled objects; an item holds at most {MAX_OBJECTS}")
        if not isinstance(own, dict):
            raise TypeError(f"generate() must return a dict of labels, got {type(own).__name__}")
        bpy.context.view_layer.update()  # the poses generate() set, in matrix_world
        arrays: dict[str, np.ndarray] = {}
        if self.renderer is not None:
            arrays["rgb"] = self.renderer.render()
        extra = own.get("objects", {})
        objects = [{"id": index + 1, "name": obj.name, **self._geometry(obj), **extra.get(obj.name, {})} for index, obj in enumerate(labelled)]
        if self.id_pass is not None:
            ids, depth = self.id_pass.draw(labelled, "depth" in self.outputs)
            if "segmentation" in self.outputs:
                arrays["segmentation"] = ids
            if depth is not None:
                arrays["depth"] = depth
            if "boxes" in self.outputs:
                self._add_boxes(objects, labelled, ids)
        labels = {"camera": self._camera(), "objects": objects, "labels": {key: value for key, value in own.items() if key != "objects"}}
        return labels, arrays

    def close(self) -> None:
        if self.renderer is not None:
            self.renderer.close()
        if self.id_pass is not None:
            self.id_pass.close()

    def _geometry(self, obj: bpy.types.Object) -> dict[str, Any]:
        """Pose (object to world, 4×4, rows), bounding-box corners in the world (Blender's bound_box order),
        and the projections (x, y, depth) of the origin and of those corners."""
        world = obj.matrix_world
        corners = [list(world @ Vector(corner)) for corner in obj.bound_box]
        projected = self.camera.project([list(world.translation), *corners])
        return {"pose": [list(row) for row in world], "corners_3d": corners, "center": projected[0].tolist(), "corners": projected[1:].tolist()}

    def _add_boxes(self, objects: list[dict[str, Any]], labelled: list[bpy.types.Object], ids: np.ndarray) -> None:
        assert self.id_pass is not None
        counts = np.bincount(ids.ravel(), minlength=len(labelled) + 1)
        shown = [index for index in range(len(labelled)) if counts[index + 1]]
        windows = {index: self._window(objects[index]["corners"]) for index in shown}
        footprints = dict(zip(shown, self.id_pass.footprints([labelled[index] for index in shown], list(windows.values())), strict=True))
        for index, entry in enumerate(objects):
            visible = int(counts[index + 1])
            entry["visible_pixels"] = visible
            if not visible:
                entry["box"], entry["visibility"] = None, 0.0
                continue
            rows, columns = windows[index]
            mask = ids[rows, columns] == index + 1
            ys, xs = np.flatnonzero(mask.any(axis=1)) + rows.start, np.flatnonzero(mask.any(axis=0)) + columns.start
            # Pixel edges: pixel (row i, column j) covers [j, j+1] x [i, i+1], as in the projections.
            entry["box"] = [int(xs[0]), int(ys[0]), int(xs[-1]) + 1, int(ys[-1]) + 1]
            entry["visibility"] = visible / max(visible, footprints[index])

    def _window(self, corners: list[list[float]]) -> tuple[slice, slice]:
        """The rows and columns that hold every pixel of an object, from its projected bounding-box corners
        (the whole image where a corner lies behind the camera, for then the projection says nothing)."""
        points = np.asarray(corners)
        width, height = self.camera.width, self.camera.height
        if (points[:, 2] <= 0).any():
            return slice(0, height), slice(0, width)
        x0, y0 = np.floor(points[:, :2].min(axis=0)).astype(int) - 1
        x1, y1 = np.ceil(points[:, :2].max(axis=0)).astype(int) + 1
        return slice(max(y0, 0), max(min(y1, height), 0)), slice(max(x0, 0), max(min(x1, width), 0))

    def _camera(self) -> dict[str, Any]:
        """Image size, OpenGL projection, world-to-camera (OpenCV axes) and, for a perspective camera, the
        intrinsic matrix K that maps camera coordinates to the pixel coordinates of the projections."""
        camera = self.scene.camera
        projection = np.array(self.camera.projection())
        width, height = self.camera.width, self.camera.height
        intrinsics = None
        if camera.data.type == "PERSP":
            intrinsics = [
                [width / 2 * projection[0, 0], 0.0, width / 2 * (1 - projection[0, 2])],
                [0.0, height / 2 * projection[1, 1], height / 2 * (1 + projection[1, 2])],
                [0.0, 0.0, 1.0],
            ]
        world_to_camera = BLENDER_TO_OPENCV @ np.array(camera.matrix_world.inverted())
        return {"width": width, "height": height, "type": camera.data.type, "K": intrinsics, "world_to_camera": world_to_camera.tolist(), "projection": projection.tolist()}


def _id_colour(object_id: int) -> tuple[float, float, float, float]:
    return ((object_id & 255) / 255.0, (object_id >> 8) / 255.0, 0.0, 1.0)


def _id_shader() -> Any:
    info = gpu.types.GPUShaderCreateInfo()
    info.push_constant("MAT4", "model_view_projection")
    info.push_constant("VEC4", "color")
    info.vertex_in(0, "VEC3", "position")
    info.fragment_out(0, "VEC4", "frag_color")
    info.vertex_source("void main() { gl_Position = model_view_projection * vec4(position, 1.0); }")
    info.fragment_source("void main() { frag_color = color; }")
    return gpu.shader.create_from_info(info)

