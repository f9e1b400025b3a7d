"""The images and labels of a data item, made from the scene as a generator posed it (docs/data.md, "Items").

- ``rgb``: the scene camera's image from the chosen renderer (render.py), H×W×3 uint8.
- ``depth``, ``segmentation``, ``boxes``: from a drawing of every rendered mesh with Blender's ``gpu`` module
  (``render.FastRenderer`` with ids) that also paints each labelled object, in a second image, in the
  colour that spells its id, and everything else in 0 (a table still hides what lies behind it). That image
  is the instance segmentation (H×W uint16, 0 where no labelled object shows); the drawing's depth buffer,
  turned into metres along the camera's axis, the depth (H×W float32, inf where nothing is). With the
  ``fast`` renderer the same drawing makes the RGB image. The renderers and the projections share the
  camera matrices, so every label lines up with the RGB image whatever its renderer.
- Boxes are the pixel boxes of each object's visible pixels; its visibility is the share of the pixels it
  would cover alone that show (the visible objects drawn once more, four to a drawing, without depth test).
- Every item carries its objects' poses, their projected origins and bounding-box corners, and the camera's
  intrinsics and extrinsics, which cost no rendering.
"""

from __future__ import annotations

from typing import Any

import bpy
import numpy as np

from . import render
from .view import ViewSettings

# A labelled object's id is painted as the colour (id mod 256, id div 256, 0): ids fit 16 bits.
MAX_OBJECTS = 65535
ID_OUTPUTS = frozenset({"depth", "segmentation", "boxes"})
OUTPUT_ORDER = ("rgb", "segmentation", "depth")
# OpenCV's camera axes (x right, y down, z forward) from Blender's (x right, y up, z backward).
BLENDER_TO_OPENCV = np.diag([1.0, -1.0, -1.0, 1.0])


class Labeller:
    """Makes an item's arrays and labels from the posed scene: ``outputs`` among ``view.OUTPUTS``, images of
    ``settings.width`` × ``settings.height`` through ``settings.renderer``.

    Segmentation, depth and boxes come from a ``FastRenderer`` drawing with ids; with the ``fast`` renderer
    the same drawing makes the RGB image too.
    """

    def __init__(self, scene: bpy.types.Scene, settings: ViewSettings, directory: str) -> None:
        self.scene = scene
        self.outputs = frozenset(settings.outputs)
        self.camera = render.Camera(scene, settings.width, settings.height)
        needs_ids = bool(self.outputs & ID_OUTPUTS)
        self.drawing = render.FastRenderer(scene, settings.width, settings.height, ids=True) if needs_ids else None
        self.renderer: render.Renderer | None = None
        if "rgb" in self.outputs:
            fast_rgb = settings.renderer == "fast" and self.drawing is not None
            self.renderer = self.drawing if fast_rgb else render.make_renderer(scene, settings, directory)

    def label(self, labelled: list[bpy.types.Object], own: dict[str, Any]) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """The item's labels (``own`` included) and arrays, for ``labelled`` objects in id order."""
        if len(labelled) > MAX_OBJECTS:
            raise ValueError(f"{len(labelled)} labelled objects; an item holds at most {MAX_OBJECTS}")
        if not isinstance(own, dict):
            raise TypeError(f"generate() must return a dict of labels, got {type(own).__name__}")
        bpy.context.view_layer.update()  # the poses generate() set, in matrix_world
        extra = own.get("objects", {})
        world_points, projected = self.camera.box_points(labelled)
        objects = [{"id": index + 1, "name": obj.name, **extra.get(obj.name, {})} for index, obj in enumerate(labelled)]
        arrays: dict[str, np.ndarray] = {}
        if self.drawing is not None:
            self.drawing.draw({obj.name: index + 1 for index, obj in enumerate(labelled)})
            if self.renderer is self.drawing:
                arrays["rgb"] = self.drawing.read_rgb()
            ids = self.drawing.read_ids()
            if "segmentation" in self.outputs:
                arrays["segmentation"] = ids
            if "depth" in self.outputs:
                arrays["depth"] = self._metres(self.drawing.read_depth())
            if "boxes" in self.outputs:
                self._add_boxes(objects, labelled, ids, projected[:, 1:])
        if self.renderer is not None and self.renderer is not self.drawing:
            arrays["rgb"] = self.renderer.render()
        labels = {"camera": self._camera(), "objects": objects, "labels": {key: value for key, value in own.items() if key != "objects"}}
        arrays = {name: arrays[name] for name in OUTPUT_ORDER if name in arrays}
        # Each object's numbers travel as rows of arrays, which the host folds into its labels
        # (docs/protocol.md, "Items"): hundreds of floats an item cost more as JSON text than the rest.
        # Object to world, 4x4, rows; corners in Blender's bound_box order; projections (x, y, depth).
        poses = np.array([obj.matrix_world for obj in labelled], dtype=np.float64).reshape(len(labelled), 4, 4)
        arrays |= {
            "objects.pose": poses,
            "objects.corners_3d": world_points[:, 1:],
            "objects.center": projected[:, 0],
            "objects.corners": projected[:, 1:],
        }
        return labels, arrays

    def close(self) -> None:
        for renderer in {id(part): part for part in (self.renderer, self.drawing) if part is not None}.values():
            renderer.close()

    def _add_boxes(self, objects: list[dict[str, Any]], labelled: list[bpy.types.Object], ids: np.ndarray, corners: np.ndarray) -> None:
        # Each object's pixels lie inside the window of its projected bounding box: looking there only is
        # what keeps boxes cheap at 640x480.
        windows = [self._window(points) for points in corners]
        masks = [ids[rows, columns] == entry["id"] for entry, (rows, columns) in zip(objects, windows, strict=True)]
        visible = [int(np.count_nonzero(mask)) for mask in masks]
        shown = [index for index, count in enumerate(visible) if count]
        footprints = dict(zip(shown, self._footprints([labelled[index] for index in shown], [windows[index] for index in shown]), strict=True))
        for index, entry in enumerate(objects):
            entry["visible_pixels"] = visible[index]
            if not visible[index]:
                entry["box"], entry["visibility"] = None, 0.0
                continue
            (rows, columns), mask = windows[index], masks[index]
            ys, xs = np.flatnonzero(mask.any(axis=1)) + rows.start, np.flatnonzero(mask.any(axis=0)) + columns.start
            # Pixel edges: pixel (row i, column j) covers [j, j+1] x [i, i+1], as in the projections.
            entry["box"] = [int(xs[0]), int(ys[0]), int(xs[-1]) + 1, int(ys[-1]) + 1]
            entry["visibility"] = visible[index] / max(visible[index], footprints[index])

    def _footprints(self, shown: list[bpy.types.Object], windows: list[tuple[slice, slice]]) -> list[int]:
        """How many pixels each object covers with nothing in front of it, counted inside its window: four
        objects to a drawing, one colour channel each."""
        assert self.drawing is not None
        counts = []
        for first in range(0, len(shown), 4):
            coverage = self.drawing.draw_alone(shown[first : first + 4])
            counts += [int(np.count_nonzero(coverage[rows, columns, channel])) for channel, (rows, columns) in enumerate(windows[first : first + 4])]
        return counts

    def _metres(self, buffer: np.ndarray) -> np.ndarray:
        """Distance along the camera's axis from the depth buffer's [0, 1] values (1 where nothing was drawn)."""
        p = np.array(self.camera.projection(), dtype=np.float32)
        # Solved from ndc = (P22 z + P23) / (P32 z + P33), ndc = 2 buffer - 1, for the eye-space z (negative
        # ahead). In float32 the error stays below the 24-bit buffer's own step (tests/test_data.py).
        ndc = buffer * np.float32(2.0) - np.float32(1.0)
        with np.errstate(divide="ignore", invalid="ignore"):
            distance = (p[2, 3] - ndc * p[3, 3]) / (p[2, 2] - ndc * p[3, 2])
        distance[buffer >= 1.0] = np.inf
        return distance

    def _window(self, points: np.ndarray) -> tuple[slice, slice]:
        """The rows and columns that hold every pixel of an object, from its projected bounding-box corners
        (8×3: x, y, depth; the whole image where a corner lies behind the camera, for then the projection
        says nothing)."""
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
        return {
            "width": width,
            "height": height,
            "type": camera.data.type,
            "K": intrinsics,
            "world_to_camera": world_to_camera.tolist(),
            "projection": projection.tolist(),
        }
