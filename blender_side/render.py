"""Images of a scene from its camera, headless and without a GPU, and projections of points to pixels.

Two kinds of renderer (docs/rendering.md has their measured costs):

- ``FastRenderer`` draws every visible mesh with Blender's ``gpu`` module into an offscreen buffer, in its
  material's colour with one directional light: shapes and colours, no textures, no anti-aliasing, a
  fraction of a millisecond at 84×84. Meant for pixel observations in training.
- ``EngineRenderer`` renders with one of Blender's engines (Workbench without or with anti-aliasing, Cycles,
  EEVEE) and reads the image back through a BMP file in the host's private directory, which lies in
  memory (/dev/shm) where the machine has it: Blender exposes no rendered pixels to Python otherwise.

Both return H×W×3 uint8 arrays, top row first, in the colours a viewer sees (the scene's view transform
for the engines, sRGB for the fast renderer). ``Camera`` projects world points with the same matrices.
"""

from __future__ import annotations

import abc
import os
from typing import Any

import bpy
import gpu
import numpy as np
from gpu_extras.batch import batch_for_shader
from mathutils import Matrix, Vector

from .view import ViewSettings

# Share of a surface's colour that it keeps when it faces away from the light.
AMBIENT = 0.35
# Clip space turned upside down: see FastRenderer._upside_down.
FLIP_ROWS = Matrix.Diagonal((1.0, -1.0, 1.0, 1.0))
# Where the fast renderer's light comes from (towards the light) when the scene has no sun lamp.
DEFAULT_LIGHT = Vector((0.3, -0.8, 0.5)).normalized()


class Camera:
    """The scene camera seen at ``width`` × ``height`` pixels."""

    def __init__(self, scene: bpy.types.Scene, width: int, height: int) -> None:
        if scene.camera is None:
            raise ValueError(f"scene {scene.name!r} has no camera (scene.camera): rendering and projections need one")
        self.scene = scene
        self.width = width
        self.height = height

    def projection(self) -> Matrix:
        """Camera to clip space (OpenGL's conventions), for this image size."""
        render = self.scene.render
        return self.scene.camera.calc_matrix_camera(
            bpy.context.evaluated_depsgraph_get(), x=self.width, y=self.height, scale_x=render.pixel_aspect_x, scale_y=render.pixel_aspect_y
        )

    def view_projection(self) -> Matrix:
        """World to clip space, as the renderers use it."""
        return self.projection() @ self.scene.camera.matrix_world.inverted()

    def project(self, points: Any) -> np.ndarray:
        """Pixel coordinates and depth of world points: an (N, 3) array of x (right), y (down), both from the
        top-left corner of the image (pixel (row i, column j) spans [j, j+1] × [i, i+1]), and the distance in
        front of the camera (negative behind it)."""
        points = np.asarray(points, dtype=np.float64).reshape(-1, 3)
        matrix = np.array(self.view_projection())
        clip = np.c_[points, np.ones(len(points))] @ matrix.T
        w = clip[:, 3]
        safe_w = np.where(np.abs(w) < 1e-12, 1e-12, w)
        x = (clip[:, 0] / safe_w + 1.0) * 0.5 * self.width
        y = (1.0 - clip[:, 1] / safe_w) * 0.5 * self.height
        return np.c_[x, y, w]

    def box_points(self, objects: list[bpy.types.Object]) -> tuple[np.ndarray, np.ndarray]:
        """Each object's origin and bounding-box corners (Blender's ``bound_box`` order) in the world, an
        (N, 9, 3) array, and their projections (x, y, depth as ``project`` gives them), also (N, 9, 3). One
        projection for all objects: the camera matrices are computed once per call."""
        world_points = np.array(
            [[list(obj.matrix_world.translation), *(list(obj.matrix_world @ Vector(corner)) for corner in obj.bound_box)] for obj in objects],
            dtype=np.float64,
        ).reshape(len(objects), 9, 3)
        return world_points, self.project(world_points).reshape(len(objects), 9, 3)

    def describe(self, objects: list[bpy.types.Object]) -> dict[str, dict[str, Any]]:
        """Where each object appears, by name: its origin's pixel, the pixel box around its bounding box, its depth."""
        _, projected = self.box_points(objects)
        return {
            obj.name: {
                "center": rows[0, :2].tolist(),
                "bbox": [*rows[1:, :2].min(axis=0).tolist(), *rows[1:, :2].max(axis=0).tolist()],
                "depth": float(rows[0, 2]),
            }
            for obj, rows in zip(objects, projected, strict=True)
        }


class Renderer(abc.ABC):
    """Renders the scene camera's image at a fixed size."""

    def __init__(self, scene: bpy.types.Scene, width: int, height: int) -> None:
        self.camera = Camera(scene, width, height)
        self.scene = scene
        self.width = width
        self.height = height

    @abc.abstractmethod
    def render(self) -> np.ndarray:
        """The current frame as an H×W×3 uint8 array, top row first."""

    def close(self) -> None:  # noqa: B027 (a renderer that holds nothing keeps this)
        """Release what the renderer holds."""


class EngineRenderer(Renderer):
    """A Blender render engine; the image comes back through a BMP file in ``directory``.

    The engine renders a scene of its own holding a copy of each object, posed as the simulated one before
    every render: rendering the simulated scene itself would evaluate its rigid bodies again, from the point
    cache, which shows stale poses right after a reset.
    """

    def __init__(self, scene: bpy.types.Scene, width: int, height: int, kind: str, directory: str) -> None:
        super().__init__(scene, width, height)
        self.path = os.path.join(directory, "render.bmp")
        self.stage = bpy.data.scenes.new(f"{scene.name} (blendgym render)")
        self.copies: dict[str, bpy.types.Object] = {}
        _copy_look(scene, self.stage)
        render = self.stage.render
        render.engine = engine_name(kind)
        render.resolution_x, render.resolution_y, render.resolution_percentage = width, height, 100
        render.image_settings.file_format = "BMP"
        render.image_settings.color_mode = "RGB"
        if kind in ("workbench", "quality"):
            self.stage.display.render_aa = "OFF" if kind == "workbench" else "8"
        if kind == "cycles":
            self.stage.cycles.device = "CPU"
            self.stage.cycles.samples = 16
            self.stage.cycles.use_denoising = False  # Debian's 3.4 has no denoiser (docs/blender.md).

    def render(self) -> np.ndarray:
        self._pose_copies()
        bpy.ops.render.render(scene=self.stage.name)
        bpy.data.images["Render Result"].save_render(self.path, scene=self.stage)
        return read_bmp(self.path)

    def close(self) -> None:
        if os.path.exists(self.path):
            os.remove(self.path)

    def _pose_copies(self) -> None:
        seen = set()
        for obj in self.scene.objects:
            if obj.data is None:
                continue
            seen.add(obj.name)
            copy = self.copies.get(obj.name)
            if copy is None:
                copy = self.copies[obj.name] = _still_copy(obj)
                self.stage.collection.objects.link(copy)
            copy.matrix_world = obj.matrix_world
            copy.hide_render = obj.hide_render
            copy.color = obj.color
        for name in set(self.copies) - seen:
            bpy.data.objects.remove(self.copies.pop(name))
        self.stage.camera = self.copies.get(self.scene.camera.name)


class FastRenderer(Renderer):
    """Draws meshes in flat material colours with the ``gpu`` module, offscreen.

    A mesh's shape is read the first time it is drawn; object transforms, visibility and material colours are
    read on every frame (rigid bodies, randomised colours). Deforming meshes need an ``EngineRenderer``.

    With ``ids``, the same drawing also paints a second image in which each object named in ``draw``'s
    ``ids`` has the colour (id mod 256, id div 256, 0) and everything else 0, and keeps the depth buffer:
    a data item's segmentation and depth come from the drawing that makes its RGB image (labels.py).
    """

    def __init__(self, scene: bpy.types.Scene, width: int, height: int, ids: bool = False) -> None:
        super().__init__(scene, width, height)
        create_gpu_context(scene)
        self.ids = ids
        self.shader = _flat_shader(ids)
        self.textures = [gpu.types.GPUTexture((width, height), format="RGBA8") for _ in range(2 if ids else 1)]
        self.depth = gpu.types.GPUTexture((width, height), format="DEPTH_COMPONENT24")
        self.framebuffer = gpu.types.GPUFrameBuffer(depth_slot=self.depth, color_slots=tuple(self.textures))
        self.batches: dict[str, Any] = {}

    def render(self) -> np.ndarray:
        self.draw({})
        return self.read_rgb()

    def draw(self, ids: dict[str, int]) -> None:
        """Draw every visible mesh; with ``ids``, objects so named get that id in the id image."""
        view_projection = self._upside_down()
        light = _light_direction(self.scene)
        shader = self.shader
        with self.framebuffer.bind():
            self.framebuffer.clear(depth=1.0)
            self.textures[0].clear(format="FLOAT", value=(*_background(self.scene), 1.0))
            if self.ids:
                self.textures[1].clear(format="FLOAT", value=(0.0, 0.0, 0.0, 0.0))
            gpu.state.depth_test_set("LESS_EQUAL")
            gpu.state.depth_mask_set(True)
            shader.bind()
            for obj in self.scene.objects:
                if obj.type != "MESH" or obj.hide_render:
                    continue
                world = obj.matrix_world
                shader.uniform_float("model_view_projection", view_projection @ world)
                shader.uniform_float("color", _colour(obj))
                # The light in the object's own frame, so that normals need no transform.
                shader.uniform_float("light", (*(world.to_3x3().inverted_safe() @ light).normalized(), AMBIENT))
                if self.ids:
                    shader.uniform_float("object_id", id_colour(ids.get(obj.name, 0)))
                self._batch(obj).draw(shader)
            gpu.state.depth_test_set("NONE")

    def read_rgb(self) -> np.ndarray:
        """The colour image of the last drawing, H×W×3 uint8, top row first."""
        return self._read(0, 3)

    def read_ids(self) -> np.ndarray:
        """The id image of the last drawing, H×W uint16, top row first."""
        # Red and green hold the id's low and high byte: the low half of each little-endian pixel word.
        words = self._read(1, 4).reshape(-1).view("<u4")
        return (words & 0xFFFF).astype(np.uint16).reshape(self.height, self.width)

    def read_depth(self) -> np.ndarray:
        """The depth buffer of the last drawing, H×W float32 in [0, 1] (1 where nothing was drawn), top row first."""
        depth = np.empty((self.height, self.width), dtype=np.float32)
        with self.framebuffer.bind():
            self.framebuffer.read_depth(0, 0, self.width, self.height, data=gpu.types.Buffer("FLOAT", depth.size, depth))
        return depth

    def draw_alone(self, objects: list[bpy.types.Object]) -> np.ndarray:
        """The pixels each of up to four ``objects`` covers with nothing in front of it: an H×W×4 uint8 image
        (top row first) whose channel k is non-zero where object k would show. Each object adds to its own
        channel of the id image, with depth testing off."""
        if not self.ids or len(objects) > 4:
            raise ValueError("draw_alone needs a renderer made with ids=True, and at most four objects")
        view_projection = self._upside_down()
        with self.framebuffer.bind():
            self.framebuffer.clear(color=(0.0, 0.0, 0.0, 0.0), depth=1.0)
            self.shader.bind()
            self.shader.uniform_float("color", (0.0, 0.0, 0.0, 1.0))
            self.shader.uniform_float("light", (0.0, 0.0, 1.0, 1.0))
            # Source plus destination, channel by channel (plain ADDITIVE weighs the source by its alpha).
            gpu.state.blend_set("ADDITIVE_PREMULT")
            for channel, obj in enumerate(objects):
                self.shader.uniform_float("model_view_projection", view_projection @ obj.matrix_world)
                self.shader.uniform_float("object_id", tuple(1.0 if index == channel else 0.0 for index in range(4)))
                self._batch(obj).draw(self.shader)
            gpu.state.blend_set("NONE")
        return self._read(1, 4)

    def close(self) -> None:
        self.batches.clear()

    def _upside_down(self) -> Matrix:
        """The camera's view projection, flipped top to bottom: OpenGL stores the bottom row first, so the
        framebuffer then holds the image top row first and is read out without a copy."""
        return FLIP_ROWS @ self.camera.view_projection()

    def _read(self, slot: int, channels: int) -> np.ndarray:
        """Colour attachment ``slot`` as a new H×W×``channels`` uint8 array, top row first."""
        pixels = np.empty((self.height, self.width, channels), dtype=np.uint8)
        with self.framebuffer.bind():
            self.framebuffer.read_color(0, 0, self.width, self.height, channels, slot, "UBYTE", data=gpu.types.Buffer("UBYTE", pixels.size, pixels))
        return pixels

    def _batch(self, obj: bpy.types.Object) -> Any:
        key = f"{obj.name}\0{obj.data.name}"
        batch = self.batches.get(key)
        if batch is None:
            positions, normals = triangles(obj)
            batch = self.batches[key] = batch_for_shader(self.shader, "TRIS", {"position": positions, "normal": normals})
        return batch


def id_colour(object_id: int) -> tuple[float, float, float, float]:
    """The colour that spells ``object_id`` (at most 65535) in an id image."""
    return ((object_id & 255) / 255.0, (object_id >> 8) / 255.0, 0.0, 1.0)


def make_renderer(scene: bpy.types.Scene, settings: ViewSettings, directory: str) -> Renderer:
    if settings.renderer == "fast":
        return FastRenderer(scene, settings.width, settings.height)
    return EngineRenderer(scene, settings.width, settings.height, settings.renderer, directory)


def read_bmp(path: str) -> np.ndarray:
    """An uncompressed 24-bit BMP as an H×W×3 RGB array, top row first."""
    data = np.fromfile(path, dtype=np.uint8)
    header = data[:54].tobytes()
    offset = int.from_bytes(header[10:14], "little")
    width = int.from_bytes(header[18:22], "little", signed=True)
    height = int.from_bytes(header[22:26], "little", signed=True)
    if int.from_bytes(header[28:30], "little") != 24:
        raise ValueError(f"{path}: expected a 24-bit BMP")
    stride = (width * 3 + 3) & ~3
    rows = data[offset : offset + stride * abs(height)].reshape(abs(height), stride)[:, : width * 3]
    image = rows.reshape(abs(height), width, 3)[:, :, ::-1]
    return np.ascontiguousarray(image[::-1] if height > 0 else image)


def engine_name(kind: str) -> str:
    """The render engine identifier of a renderer ``kind``, by what this Blender offers rather than its version."""
    if kind in ("workbench", "quality"):
        return "BLENDER_WORKBENCH"
    if kind == "cycles":
        return "CYCLES"
    # EEVEE is BLENDER_EEVEE before 4.2 and from 5.0 on, BLENDER_EEVEE_NEXT in between.
    engines = {item.identifier for item in bpy.types.RenderSettings.bl_rna.properties["engine"].enum_items}
    return "BLENDER_EEVEE_NEXT" if "BLENDER_EEVEE_NEXT" in engines else "BLENDER_EEVEE"


def _still_copy(obj: bpy.types.Object) -> bpy.types.Object:
    """A copy of ``obj`` that only looks like it: no rigid body (a copy of one would join the simulation), no
    parent, no constraints, its modifiers applied once."""
    data = obj.data
    if obj.type == "MESH" and len(obj.modifiers):
        data = bpy.data.meshes.new_from_object(obj.evaluated_get(bpy.context.evaluated_depsgraph_get()))
    copy = bpy.data.objects.new(f"{obj.name} (blendgym render)", data)
    for slot, source in zip(copy.material_slots, obj.material_slots, strict=False):
        if source.link == "OBJECT":
            slot.link = "OBJECT"
            slot.material = source.material
    return copy


def _copy_look(source: bpy.types.Scene, target: bpy.types.Scene) -> None:
    """What decides how a render looks, other than the objects: world, colour management, Workbench shading."""
    target.world = source.world
    for name in ("view_transform", "look", "exposure", "gamma"):
        setattr(target.view_settings, name, getattr(source.view_settings, name))
    target.display_settings.display_device = source.display_settings.display_device
    shading = source.display.shading
    for name in ("light", "color_type", "single_color", "studio_light", "show_shadows", "show_cavity", "background_type"):
        setattr(target.display.shading, name, getattr(shading, name))
    target.render.fps, target.render.fps_base = source.render.fps, source.render.fps_base


def create_gpu_context(scene: bpy.types.Scene) -> None:
    """In background mode the gpu module can draw only after a render engine has made a GPU context; a tiny
    Workbench render does that (docs/blender.md; without it Blender 3.4 segfaults)."""
    render = scene.render
    saved = (render.engine, render.resolution_x, render.resolution_y, render.resolution_percentage)
    render.engine, render.resolution_x, render.resolution_y, render.resolution_percentage = "BLENDER_WORKBENCH", 4, 4, 100
    try:
        bpy.ops.render.render()
    finally:
        render.engine, render.resolution_x, render.resolution_y, render.resolution_percentage = saved


def _flat_shader(ids: bool) -> Any:
    """Flat-lit material colours in output 0; with ``ids``, the uniform ``object_id`` in output 1."""
    interface = gpu.types.GPUStageInterfaceInfo("blendgym_flat")
    interface.flat("VEC3", "shade")
    info = gpu.types.GPUShaderCreateInfo()
    info.push_constant("MAT4", "model_view_projection")
    info.push_constant("VEC4", "color")
    info.push_constant("VEC4", "light")  # xyz: direction towards the light, object frame; w: ambient share
    info.vertex_in(0, "VEC3", "position")
    info.vertex_in(1, "VEC3", "normal")
    info.vertex_out(interface)
    info.fragment_out(0, "VEC4", "frag_color")
    if ids:
        info.push_constant("VEC4", "object_id")
        info.fragment_out(1, "VEC4", "frag_id")
    info.vertex_source(
        "void main() {"
        "  gl_Position = model_view_projection * vec4(position, 1.0);"
        "  float lit = max(dot(normalize(normal), light.xyz), 0.0);"
        "  shade = color.rgb * (light.w + (1.0 - light.w) * lit);"
        "}"
    )
    # Colours are linear in Blender; the image holds sRGB, as a viewer sees it.
    info.fragment_source(
        "void main() {"
        "  vec3 c = clamp(shade, 0.0, 1.0);"
        "  frag_color = vec4(mix(c * 12.92, 1.055 * pow(c, vec3(1.0 / 2.4)) - 0.055, step(0.0031308, c)), 1.0);"
        + ("  frag_id = object_id;" if ids else "")
        + "}"
    )
    return gpu.shader.create_from_info(info)


def triangles(obj: bpy.types.Object) -> tuple[np.ndarray, np.ndarray]:
    """The evaluated mesh of ``obj`` as unshared triangle corners with their face normals, object frame."""
    evaluated = obj.evaluated_get(bpy.context.evaluated_depsgraph_get())
    mesh = evaluated.to_mesh()
    try:
        mesh.calc_loop_triangles()
        count = len(mesh.loop_triangles)
        corners = np.empty(count * 3, dtype=np.int32)
        mesh.loop_triangles.foreach_get("vertices", corners)
        normals = np.empty(count * 3, dtype=np.float32)
        mesh.loop_triangles.foreach_get("normal", normals)
        coordinates = np.empty(len(mesh.vertices) * 3, dtype=np.float32)
        mesh.vertices.foreach_get("co", coordinates)
    finally:
        evaluated.to_mesh_clear()
    positions = coordinates.reshape(-1, 3)[corners]
    return positions, np.repeat(normals.reshape(-1, 3), 3, axis=0)


def _colour(obj: bpy.types.Object) -> tuple[float, float, float, float]:
    material = obj.active_material
    return tuple(material.diffuse_color) if material is not None else tuple(obj.color)


def _light_direction(scene: bpy.types.Scene) -> Vector:
    for obj in scene.objects:
        if obj.type == "LIGHT" and obj.data.type == "SUN" and not obj.hide_render:
            return (obj.matrix_world.to_3x3() @ Vector((0.0, 0.0, 1.0))).normalized()
    return DEFAULT_LIGHT


def _background(scene: bpy.types.Scene) -> tuple[float, float, float]:
    linear = scene.world.color if scene.world is not None else (0.05, 0.05, 0.05)
    r, g, b = (float(c * 12.92 if c <= 0.0031308 else 1.055 * c ** (1 / 2.4) - 0.055) for c in linear)
    return r, g, b


class View:
    """What the host sees of an env beyond its own observation: pixels, ``render()`` images, projections."""

    def __init__(self, scene: bpy.types.Scene, state_space: dict[str, Any], settings: ViewSettings, directory: str) -> None:
        self.settings = settings
        self.observation_space = settings.observation_space(state_space)
        self.renderer = make_renderer(scene, settings, directory) if settings.renders else None
        self.camera = Camera(scene, settings.width, settings.height) if settings.projections else None
        missing = [name for name in settings.projections if name not in scene.objects]
        if missing:
            raise ValueError(f"projections name objects that are not in the scene: {missing}; it has {sorted(scene.objects.keys())}")
        self.projected = [scene.objects[name] for name in settings.projections]

    def observation(self, state: Any) -> Any:
        """The observation the host gets, given the env's own."""
        mode = self.settings.obs_mode
        if mode == "state":
            return state
        assert self.renderer is not None
        pixels = self.renderer.render()
        return pixels if mode == "pixels" else {"state": state, "pixels": pixels}

    def info(self, info: dict[str, Any]) -> dict[str, Any]:
        """The env's info, with ``projections`` added when the host asked for them."""
        if not self.projected:
            return info
        assert self.camera is not None
        return {**info, "projections": self.camera.describe(self.projected)}

    def close(self) -> None:
        if self.renderer is not None:
            self.renderer.close()
