"""``BlenderEnv``: a gymnasium.Env whose reset and step run in a Blender process."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, fields
from functools import partial
from pathlib import Path
from typing import Any, Literal, SupportsFloat

import gymnasium
import numpy as np
from blendgym_blender import wire
from blendgym_blender.view import WINDOW_DEFAULT_SIZE, ViewSettings

from . import affinity
from .attached import AttachedBlender
from .blender import find_blender
from .channel import Channel, Decoded, decode_reply
from .errors import BlenderCallError, BlenderEnvError, BlenderNotFoundError, BlenderProcessDied, BlenderProtocolError, BlenderTimeoutError
from .process import BlenderProcess, LaunchSpec, TransportChoice, uses_lane
from .spaces import ActionEncoder, to_gymnasium

RENDER_MODES = ["human", "rgb_array"]
DEFAULT_TIMEOUT = 30.0
Timeout = float | None | Literal["auto"]


@dataclass(frozen=True)
class LaunchOptions:
    """The keywords every Blender env takes besides its class's own: the same for ``BlenderEnv``,
    ``BlenderVectorEnv``, ``gymnasium.make`` and ``gymnasium.make_vec``, split once from the rest
    (``LaunchOptions.split``), which go to the env's class.

    Attributes:
        render_mode: None, ``"human"`` (needs a Blender executable and a display) or ``"rgb_array"``.
        obs_mode: ``"state"`` (the env's own observation), ``"pixels"`` (``Box(0, 255, (height, width, 3),
            uint8)``) or ``"both"`` (a ``Dict`` with keys ``"state"`` and ``"pixels"``).
        renderer: ``"fast"`` (the gpu module, flat colours, ~0.2 ms at 84×84), ``"workbench"`` (Workbench,
            no anti-aliasing), ``"quality"`` (Workbench, 8× anti-aliasing), ``"cycles"`` or ``"eevee"``.
        width, height: the size of every image; 84×84 by default when pixels are observed, else 640×480.
        projections: names of scene objects whose pixel position (``center``), box (``bbox``: x0, y0, x1, y1)
            and ``depth`` every reset and step put into ``info["projections"][name]``.
        real_time: with ``"human"``, pace steps at the env's ``render_fps`` so that the window shows real time.
        lockstep: with ``"human"``, redraw the window after every step (True), or serve steps for 20 ms
            between redraws (False: much faster where drawing is slow, but not every step is shown).
        window_size: with ``"human"``, the window's (width, height).
        blender: a Blender executable, ``"embedded"`` for the bpy module, or None for $BLENDGYM_BLENDER,
            else the bpy module (a Blender executable on PATH with ``"human"``), else ``blender`` on PATH.
        blend_file: a .blend file that the env's Blender opens before it builds the env (docs/envs.md, "Your
            own scenes"); relative paths are taken from the current directory.
        seed: seeds the Blender side's random generator at start-up (``reset(seed=...)`` reseeds it); a
            vector env's process ``i`` gets ``seed + i``.
        startup_timeout: seconds to wait for Blender to start and build the scene.
        timeout: seconds to wait for any reply after start-up; a Blender that does not answer is killed.
            None waits as long as Blender runs; "auto" is 30 s, or None with a window (a user may pause it).
        cpu_affinity: where the Blender processes run: "auto" deals them round-robin over the cores, starting
            with the one after the core the calling thread runs on; an int (one env) or a list (one core per
            process) names them; None leaves placement to the OS (blendgym/affinity.py). The calling thread's
            own affinity is never changed.
        transport: how frames travel after the handshake: "auto" through a shared-memory lane where it can
            (Linux x86-64, no window), else ZeroMQ; "lane" insists on the lane; "zmq" keeps every frame on
            the ZeroMQ socket (docs/protocol.md, "Lanes").
        env_id: how errors name this env; registered envs pass their id.
    """

    render_mode: str | None = None
    obs_mode: str = "state"
    renderer: str = "fast"
    width: int | None = None
    height: int | None = None
    projections: Any = ()
    real_time: bool = False
    lockstep: bool = True
    window_size: Any = WINDOW_DEFAULT_SIZE
    blender: str | os.PathLike[str] | None = None
    blend_file: str | os.PathLike[str] | None = None
    seed: int | None = None
    startup_timeout: float = 60.0
    timeout: Timeout = "auto"
    cpu_affinity: affinity.CpuAffinity | list[int] = "auto"
    transport: TransportChoice = "auto"
    env_id: str | None = None

    @classmethod
    def split(cls, keywords: dict[str, Any]) -> tuple[LaunchOptions, dict[str, Any]]:
        """These options out of ``keywords``, and the other keywords: the env class's own."""
        names = {option.name for option in fields(cls)}
        options = cls(**{name: value for name, value in keywords.items() if name in names})
        return options, {name: value for name, value in keywords.items() if name not in names}

    def view(self) -> ViewSettings:
        """What Blender renders for the env, checked; raises ValueError naming a bad keyword."""
        if self.render_mode not in (None, *RENDER_MODES):
            raise ValueError(f"render_mode={self.render_mode!r} is not supported; render_modes: {RENDER_MODES}")
        return ViewSettings.from_options(
            obs_mode=self.obs_mode,
            renderer=self.renderer,
            width=self.width,
            height=self.height,
            rgb_array=self.render_mode == "rgb_array",
            projections=self.projections,
            human=self.render_mode == "human",
            real_time=self.real_time,
            lockstep=self.lockstep,
            window_size=self.window_size,
        )


def resolve_blend_file(blend_file: str | os.PathLike[str] | None, env_name: str) -> str | None:
    """``blend_file`` as an absolute path, so that Blender finds it from any directory; it must exist."""
    if blend_file is None:
        return None
    path = Path(blend_file).resolve()
    if not path.is_file():
        raise FileNotFoundError(f"{env_name}: blend_file {os.fspath(blend_file)!r} does not exist ({path})")
    return str(path)


def reply_timeout(timeout: Timeout, waits_for_user: bool) -> float | None:
    """``timeout`` with "auto" resolved: no limit where a user can pause Blender (a window), else 30 s."""
    if timeout == "auto":
        return None if waits_for_user else DEFAULT_TIMEOUT
    return timeout


def screenshot_from_reply(frame: bytes, view: ViewSettings) -> Screenshot:
    image, box = wire.decode_window_reply(frame)
    camera_frame = None if box is None else (box[0], box[1], box[2], box[3])
    return Screenshot(image, camera_frame, (view.width, view.height))


def check_display() -> None:
    """Raise a clear error where a window cannot open: Linux with neither an X nor a Wayland display."""
    if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        raise BlenderNotFoundError(
            "render_mode='human' opens Blender's window, but no display is set ($DISPLAY). Run on a desktop, "
            "or on a headless machine under a virtual one: `apt-get install xvfb` and `xvfb-run -a python script.py`."
        )


@dataclass(frozen=True)
class Screenshot:
    """Blender's window as it is shown: ``image`` (H×W×3 uint8, top row first) and ``camera_frame``, the box
    (x0, y0, x1, y1, pixels from the top-left corner) where the 3D view shows the scene camera's frame."""

    image: np.ndarray
    camera_frame: tuple[float, float, float, float] | None
    camera_size: tuple[int, int]

    def to_window(self, point: Any) -> np.ndarray:
        """Window pixel coordinates of ``point`` (x, y) given in camera-image pixels, as in ``info["projections"]``."""
        if self.camera_frame is None:
            raise ValueError("the window shows no camera view")
        x0, y0, x1, y1 = self.camera_frame
        width, height = self.camera_size
        x, y = np.asarray(point, dtype=np.float64)[:2]
        return np.array([x0 + x / width * (x1 - x0), y0 + y / height * (y1 - y0)])


def resolve_env_class(env_class: str) -> str:
    """``env_class`` with a file path made absolute, so that Blender finds it from any working directory; a
    file that is not there is a ``FileNotFoundError`` now, before any Blender starts."""
    location, separator, class_name = env_class.rpartition(":")
    if location.endswith(".py"):
        path = Path(location).resolve()
        if not path.is_file():
            raise FileNotFoundError(f"env class {env_class!r}: there is no file {path}; give the path of the .py file that defines {class_name}")
        return f"{path}{separator}{class_name}"
    return env_class


class BlenderEnv(gymnasium.Env[Any, Any]):
    """A Gymnasium env simulated by one Blender process.

    ``env_class`` names the Blender-side ``SceneEnv`` subclass as ``module:Class`` (importable in Blender)
    or ``path/to/file.py:Class``; every keyword argument this constructor does not take itself is passed to
    that class, and must be JSON serialisable. The process starts here, so the spaces are known at once.
    With ``attach=`` no process starts: the env is served by a Blender that the user opened (docs/live.md).

    Images come from the scene's camera (docs/rendering.md): ``render_mode="rgb_array"`` makes ``render()``
    return the current frame, and ``obs_mode`` puts it into the observations. ``render_mode="human"`` opens
    Blender's window, which shows the scene camera's view as steps arrive (docs/live.md).

    Args:
        env_class: the Blender-side env class, ``module:Class`` or ``path/file.py:Class``.
        attach: the address (``tcp://127.0.0.1:5710``) of a server started in a running Blender with
            ``blendgym_blender.live.attach``; ``env_class``, ``blender`` and the view keywords are then unused.
        attach_secret: the attached server's secret; by default the one it wrote for this user on this machine.
        instance: an id for this process among several, passed to the Blender side.
        keywords: the ``LaunchOptions`` (``render_mode``, ``obs_mode``, ``blender``, ``timeout``, ...); the
            others go to ``env_class``.
    """

    metadata: dict[str, Any] = {"render_modes": RENDER_MODES, "render_fps": 50}

    def __init__(
        self, env_class: str | None = None, *, attach: str | None = None, attach_secret: str | None = None, instance: int = 0, **keywords: Any
    ) -> None:
        options, env_kwargs = LaunchOptions.split(keywords)
        env_id = options.env_id
        self.attach_address = attach
        self.attach_secret = attach_secret
        self._spec: LaunchSpec | None = None  # how to launch a Blender; None for an attached one
        if attach is None:
            if env_class is None:
                raise ValueError("BlenderEnv needs env_class= (module:Class or path/file.py:Class), or attach= an address")
            self.view = options.view()
            if self.view.human:
                check_display()
            env_class = resolve_env_class(env_class)
            self._spec = LaunchSpec(
                find_blender(options.blender, executable=self.view.human),
                env_class,
                env_kwargs,
                env_id or env_class,
                self.view,
                resolve_blend_file(options.blend_file, env_id or env_class),
                options.startup_timeout,
                lane=uses_lane(options.transport, self.view),
            )
        self.env_class = env_class
        self.env_id = env_id or env_class or attach or ""
        self.startup_timeout = options.startup_timeout
        human = options.render_mode == "human"
        self.timeout = reply_timeout(options.timeout, attach is not None or human)
        self.instance = instance
        # Blender's UI draws with threads of its own: pinning it to one core would starve them.
        self._cpu = affinity.place(1, options.cpu_affinity)[0] if attach is None and not human else None
        seed = options.seed
        self._process: Channel | None = None
        self._spaces_json: tuple[Any, Any] | None = None
        self._needs_reset = True
        self._closed = False
        try:
            self._start(seed)
        except BaseException:
            self.close()  # a failed start must not leave its Blender running until garbage collection
            raise
        assert self._process is not None
        hello = self._process.hello
        if attach is not None:
            if env_class is not None and env_class != hello["env_class"]:
                name = self._process.name
                self.close()
                raise ValueError(f"{name} serves {hello['env_class']}, not {env_class}")
            self.view = ViewSettings.from_json(hello["view"])
            self.env_class = hello["env_class"]
        self.render_mode = "human" if self.view.human else "rgb_array" if self.view.rgb_array else None
        self.observation_space = to_gymnasium(hello["observation_space"])
        self.action_space = to_gymnasium(hello["action_space"])
        self.metadata = {**self.metadata, "render_fps": hello["render_fps"]}
        self._parameters: dict[str, dict[str, Any]] = hello.get("parameters", {})
        self._observation_layout: wire.Layout = wire.Layout(hello["observation_space"])
        self._action_encoder: ActionEncoder = ActionEncoder(hello["action_space"])
        self._decode_reset: Callable[[bytes], tuple[Any, dict[str, Any]]] = partial(wire.decode_reset_reply, observation=self._observation_layout)
        self._decode_step: Callable[[bytes], tuple[Any, float, bool, bool, dict[str, Any]]] = partial(
            wire.decode_step_reply, observation=self._observation_layout
        )
        if attach is None:
            affinity.warn_once_if_torch_crowds_the_cores(1, self.env_id)

    @property
    def parameters(self) -> dict[str, dict[str, Any]]:
        """The Blender-side env's declared parameters by name: ``kind``, ``default``, ``low``, ``high`` and
        ``doc`` (docs/envs.md). Set them with ``reset(options=...)`` or ``remote_set``."""
        return dict(self._parameters)

    @property
    def process(self) -> Channel | None:
        """The Blender process serving this env (None between a crash and the next reset)."""
        return self._process

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[Any, dict[str, Any]]:
        super().reset(seed=seed)
        if self._closed:
            raise BlenderEnvError(f"{self.env_id}: the env is closed; make a new one")
        request = wire.encode_reset(seed, options)
        if self._process is None:
            self._start(seed)
        self._needs_reset = True
        observation, info = self._request(request, "reset", self._decode_reset)
        self._needs_reset = False
        return observation, info

    def step(self, action: Any) -> tuple[Any, SupportsFloat, bool, bool, dict[str, Any]]:
        try:
            request = self._action_encoder.encode(action)
        except ValueError as error:
            raise ValueError(f"{self.env_id}: {error}") from None
        if self._closed:
            raise BlenderEnvError(f"{self.env_id}: the env is closed; make a new one")
        if self._needs_reset:
            raise BlenderEnvError(f"{self.env_id}: call reset() before step(): no episode is running")
        return self._request(request, "step", self._decode_step)

    def remote_get(self, name: str) -> Any:
        """The value of the Blender-side env's declared parameter or exposed attribute ``name`` (one its class
        lists in ``remote_attributes``; docs/protocol.md, "Attributes")."""
        return self._attribute({"get": name}, f"get {name!r}")

    def remote_set(self, name: str, value: Any) -> None:
        """Set the Blender-side env's declared parameter or exposed attribute ``name`` (a JSON value of the kind
        it holds); anything else is refused with ``BlenderAttributeError``."""
        self._attribute({"set": name, "value": value}, f"set {name!r}")

    def remote_call(self, name: str, *args: Any, **kwargs: Any) -> Any:
        """Call the Blender-side env's method ``name``, which must be marked ``@blendgym_blender.remote``."""
        return self._attribute({"call": name, "args": args, "kwargs": kwargs}, f"call {name!r}")

    def render(self) -> np.ndarray | None:
        """The scene camera's current image (H×W×3 uint8, top row first) with ``render_mode="rgb_array"``, else
        None: with ``"human"`` the window shows every step by itself."""
        if self.render_mode != "rgb_array":
            return None
        self._check_process("render")
        return self._request(wire.IMAGE, "render", wire.decode_image_reply)

    def screenshot(self) -> Screenshot:
        """Blender's window as shown now, after it has drawn the latest step (``render_mode="human"`` or attached)."""
        self._check_process("take a screenshot")
        return self._request(wire.WINDOW, "screenshot", partial(screenshot_from_reply, view=self.view))

    def close(self) -> None:
        """End the Blender process; idempotent."""
        if self._closed:
            return
        self._closed = True
        self._stop()

    def __del__(self) -> None:
        if getattr(self, "_closed", True) is False:
            self.close()

    def _check_process(self, what: str) -> None:
        if self._closed:
            raise BlenderEnvError(f"{self.env_id}: the env is closed; make a new one to {what}")
        if self._process is None:
            raise BlenderEnvError(f"{self.env_id}: no Blender process to {what}: call reset() first")

    def _start(self, seed: int | None) -> None:
        process: Channel
        if self.attach_address is not None:
            process = AttachedBlender(
                self.attach_address, name=self.env_id if self.env_class else None, connect_timeout=self.startup_timeout, secret=self.attach_secret
            )
        else:
            process = self._launch(seed)
        spaces_json = (process.hello["observation_space"], process.hello["action_space"])
        if self._spaces_json is not None and spaces_json != self._spaces_json:
            process.close()
            raise BlenderProtocolError(f"{process.name}: the restarted Blender process declares different spaces")
        self._spaces_json = spaces_json
        self._process = process

    def _launch(self, seed: int | None) -> BlenderProcess:
        assert self._spec is not None
        return BlenderProcess(self._spec, seed=seed, instance=self.instance, cpu=self._cpu, spin_limit=affinity.spin_limit(1))

    def _stop(self) -> None:
        if self._process is not None:
            self._process.close()
            self._process = None

    def _attribute(self, request: dict[str, Any], what: str) -> Any:
        frame = wire.encode_attribute(request)
        self._check_process(what)
        return self._request(frame, what, wire.decode_attribute_reply)

    def _request(self, frame: bytes, what: str, decode: Callable[[bytes], Decoded]) -> Decoded:
        assert self._process is not None
        try:
            return decode_reply(self._process.name, what, decode, self._process.request(frame, self.timeout, what))
        except BlenderCallError:
            raise  # The episode is untouched.
        except BlenderEnvError:
            self._needs_reset = True
            raise
        except (BlenderProcessDied, BlenderTimeoutError, BlenderProtocolError, KeyboardInterrupt):
            # The process is gone, hung, or its socket is mid-request: the next reset starts a new one.
            self._stop()
            self._needs_reset = True
            raise

    def __repr__(self) -> str:
        process = self._process.name if self._process is not None else "no process"
        return f"<BlenderEnv {self.env_id}: {process}>"


def attach(
    address: str = wire.DEFAULT_ATTACH_ADDRESS,
    *,
    secret: str | None = None,
    timeout: Timeout = "auto",
    startup_timeout: float = 10.0,
    env_id: str | None = None,
) -> BlenderEnv:
    """An env served by a Blender that the user opened, where ``blendgym_blender.live.attach`` was called
    (``python -m blendgym console-line module:Class`` prints the console line; docs/live.md). ``secret`` is the
    one that Blender printed; on its own machine it is found without it. ``close()`` stops the server and
    leaves Blender open; closing Blender ends the env's next request with ``BlenderProcessDied``."""
    return BlenderEnv(attach=address, attach_secret=secret, timeout=timeout, startup_timeout=startup_timeout, env_id=env_id)
