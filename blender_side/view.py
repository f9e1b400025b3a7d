"""What a host asks to see of an env: observation mode, renderer, image size, projected objects, and whether
Blender shows it live in a window (docs/live.md).

Pure Python (no bpy), so the host validates the settings with the same code before it starts Blender, and
both sides agree on the observation space that pixels make (docs/protocol.md, "Images").
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

# "state": the env's own observation; "pixels": the camera image only; "both": {"state": ..., "pixels": ...}.
OBS_MODES = ("state", "pixels", "both")
# "fast": the gpu module draws each mesh in its material colour (no anti-aliasing, shapes and colours only);
# the others are Blender's render engines, read back through a file in memory (docs/rendering.md).
RENDERERS = ("fast", "workbench", "quality", "cycles", "eevee")
PIXELS_DEFAULT_SIZE = (84, 84)
RENDER_DEFAULT_SIZE = (640, 480)
MAX_SIZE = 8192
WINDOW_DEFAULT_SIZE = (960, 720)
# What a data generator's items may hold beside their JSON labels (docs/data.md, "Labels").
OUTPUTS = ("rgb", "depth", "segmentation", "boxes")


@dataclass(frozen=True)
class ViewSettings:
    """The view of one env. ``width`` and ``height`` are the size of every image, observation or ``render()``.

    ``outputs``: what each item of a data generator holds beside its labels (a generator only).
    ``human``: Blender runs with its UI and shows the scene camera's view in a ``window_size`` window.
    ``lockstep``: the window is redrawn after every reset and step (else requests are served for a time budget
    between redraws); ``real_time``: steps are paced at the env's ``render_fps``.
    """

    obs_mode: str = "state"
    renderer: str = "fast"
    width: int = RENDER_DEFAULT_SIZE[0]
    height: int = RENDER_DEFAULT_SIZE[1]
    rgb_array: bool = False
    projections: tuple[str, ...] = field(default=())
    human: bool = False
    real_time: bool = False
    lockstep: bool = True
    window_size: tuple[int, int] = WINDOW_DEFAULT_SIZE
    outputs: tuple[str, ...] = field(default=())

    @classmethod
    def from_options(
        cls,
        *,
        obs_mode: str = "state",
        renderer: str = "fast",
        width: int | None = None,
        height: int | None = None,
        rgb_array: bool = False,
        projections: Any = (),
        human: bool = False,
        real_time: bool = False,
        lockstep: bool = True,
        window_size: Any = WINDOW_DEFAULT_SIZE,
        outputs: Any = (),
    ) -> ViewSettings:
        """Checked settings; raises ValueError naming the bad option. Sizes default to 84×84 when pixels are
        observed, else 640×480."""
        if obs_mode not in OBS_MODES:
            raise ValueError(f"obs_mode={obs_mode!r} is not one of {list(OBS_MODES)}")
        if renderer not in RENDERERS:
            raise ValueError(f"renderer={renderer!r} is not one of {list(RENDERERS)}")
        default = PIXELS_DEFAULT_SIZE if obs_mode != "state" else RENDER_DEFAULT_SIZE
        size = (default[0] if width is None else width, default[1] if height is None else height)
        for name, value in zip(("width", "height"), size, strict=True):
            if not _is_size(value):
                raise ValueError(f"{name}={value!r} must be an int in [1, {MAX_SIZE}]")
        if isinstance(projections, str) or not all(isinstance(name, str) for name in projections):
            raise ValueError(f"projections={projections!r} must be a list of object names")
        if isinstance(window_size, str) or len(window_size) != 2 or not all(_is_size(value) for value in window_size):
            raise ValueError(f"window_size={window_size!r} must be (width, height) in pixels, each in [1, {MAX_SIZE}]")
        for name, flag in (("real_time", real_time), ("lockstep", lockstep)):
            if not isinstance(flag, bool):
                raise ValueError(f"{name}={flag!r} must be True or False")
        if isinstance(outputs, str) or not all(output in OUTPUTS for output in outputs):
            raise ValueError(f"outputs={outputs!r} must be a list drawn from {list(OUTPUTS)}")
        return cls(
            obs_mode,
            renderer,
            size[0],
            size[1],
            bool(rgb_array),
            tuple(projections),
            bool(human),
            real_time,
            lockstep,
            tuple(window_size),
            tuple(outputs),
        )

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ViewSettings:
        return cls.from_options(
            **{
                **data,
                "projections": tuple(data.get("projections", ())),
                "window_size": tuple(data.get("window_size", WINDOW_DEFAULT_SIZE)),
                "outputs": tuple(data.get("outputs", ())),
            }
        )

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "projections": list(self.projections), "window_size": list(self.window_size), "outputs": list(self.outputs)}

    @property
    def renders(self) -> bool:
        """Whether the Blender side needs a renderer at all."""
        return self.rgb_array or self.obs_mode != "state"

    def pixels_space(self) -> dict[str, Any]:
        """The JSON of the pixel observation space: ``Box(0, 255, (height, width, 3), uint8)``."""
        return {"type": "Box", "low": [0], "high": [255], "shape": [self.height, self.width, 3], "dtype": "uint8"}

    def observation_space(self, state_space: dict[str, Any]) -> dict[str, Any]:
        """The JSON of the observation space the host sees, given the env's own (state) space."""
        if self.obs_mode == "state":
            return state_space
        if self.obs_mode == "pixels":
            return self.pixels_space()
        return {"type": "Dict", "spaces": {"state": state_space, "pixels": self.pixels_space()}}


def _is_size(value: Any) -> bool:
    return not isinstance(value, bool) and isinstance(value, int) and 1 <= value <= MAX_SIZE
