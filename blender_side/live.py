"""Serving an env from Blender's UI, so that its window shows the simulation as the host steps it (docs/live.md).

Blender's UI runs one event loop; a request served inside it blocks redraws and input. ``LiveServer`` answers
requests from a ``bpy.app.timers`` callback instead, for at most ``SERVE_BUDGET`` seconds per tick, and then
lets Blender redraw. In lockstep a tick ends after each reset or step, so every step is drawn. ``real_time``
serves each step when it is due by the env's ``render_fps`` and redraws while it waits: the simulation keeps
wall-clock time, and a display slower than ``render_fps`` shows fewer frames. A ``W`` request (a
screenshot) is answered on the tick after a redraw, so that the image shows the latest step.

Two ways in: ``bootstrap.py`` starts a server for an env that the host launched with ``render_mode="human"``,
and ``attach(...)``, typed into Blender's Python console, serves an env in the Blender the user opened.
"""

from __future__ import annotations

import contextlib
import math
import os
import secrets
import shutil
import socket
import tempfile
import time
import traceback
from collections.abc import Callable
from typing import Any

import bpy
import numpy as np
from bpy_extras.view3d_utils import location_3d_to_region_2d

from . import wire
from .agent import RemoteControlledAgent, Session
from .render import View
from .view import ViewSettings

# Seconds of serving per UI tick when not in lockstep: long enough for hundreds of steps, short enough
# that the window stays responsive (docs/blender.md: 20 ms gave 803 steps/s under Xvfb).
SERVE_BUDGET = 0.02
# How soon the timer looks again when no request is waiting, and while paused or waiting for a host.
POLL_INTERVAL = 0.002
IDLE_INTERVAL = 0.1
SCREENSHOT_FILE = "window.png"
# How far real-time pacing lets the simulation fall behind the wall clock before it stops catching up.
MAX_LAG = 0.25
# The interfaces an attach server may bind without allow_remote=True.
LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})

_server: LiveServer | None = None  # the one server of this Blender, shown in the sidebar panel


class LiveServer:
    """Answers one env's requests from a UI timer until the host closes it, dies, or the user stops it.

    ``on_end`` runs once when serving ends (the spawned Blender quits there; an attached one stays open).
    """

    def __init__(
        self,
        agent: RemoteControlledAgent,
        session: Session,
        settings: ViewSettings,
        *,
        name: str,
        address: str,
        private_dir: str,
        on_end: Callable[[], None],
    ) -> None:
        self.agent = agent
        self.session = session
        self.settings = settings
        self.name = name
        self.address = address
        self.private_dir = private_dir
        self.on_end = on_end
        self.step_interval = 1.0 / session.env.render_fps if settings.real_time else 0.0
        self.next_step_at = 0.0
        self.paused = False
        self.stopping = False
        self.ended = False
        self.steps = 0
        # Steps (and resets) served only after waiting for their due time: in real time, with a host and
        # redraws that keep up, all but the first.
        self.paced_steps = 0
        self.waiting_for_due = False
        self.window_request = False

    @property
    def status(self) -> str:
        if self.ended:
            return "stopped"
        if self.stopping:
            return "stopping: the host's next request ends the session"
        if self.session.host_pid is None:
            return f"waiting for a host at {self.address}"
        return "paused" if self.paused else "serving"

    def start(self) -> None:
        global _server
        _server = self
        bpy.app.timers.register(self.tick, first_interval=0.0)

    def stop(self) -> None:
        """Answer the host's next request with an error, then end (the user pressed Stop)."""
        self.stopping = True

    def tick(self) -> float | None:
        """The timer callback: serve, then return how soon to be called again (None ends the timer)."""
        try:
            return self._serve()
        except Exception:
            traceback.print_exc()
            self.end()
            return None

    def _serve(self) -> float | None:
        if self.window_request:
            self.window_request = False
            self.agent.socket.send(self._window_reply())
        if not self._host_alive():
            print(f"blendgym: the host of {self.name} is gone; stopping the server", flush=True)
            self.end()
            return None
        if self.paused:
            return IDLE_INTERVAL
        deadline = time.perf_counter() + SERVE_BUDGET
        while True:
            now = time.perf_counter()
            if now < self.next_step_at:
                self.waiting_for_due = True
                return self.next_step_at - now  # real time: Blender redraws while the next step is not due
            if now >= deadline:
                return 0.0
            # The host sends its next request within microseconds of a reply: wait for it here rather
            # than let a redraw (milliseconds on a software display) come between every two steps.
            if not self.agent.socket.poll(math.ceil((deadline - now) * 1000.0)):
                return POLL_INTERVAL if self.session.host_pid is not None else IDLE_INTERVAL
            frame = self.agent.socket.recv()
            if frame[:1] == wire.WINDOW:
                self.window_request = True  # answered next tick, after Blender has redrawn the window
                return 0.0
            reply = self._answer(frame)
            self.agent.socket.send(reply)
            if reply[:1] == wire.CLOSE:
                print(f"blendgym: the host closed {self.name}; the server stopped", flush=True)
                self.end()
                return None
            if frame[:1] in (wire.STEP, wire.RESET) and reply[:1] != wire.ERROR:
                self.steps += 1
                self.paced_steps += self.waiting_for_due
                self.waiting_for_due = False
                _redraw_views()
                if self.step_interval:
                    # Due times follow the wall clock: after a slow redraw the steps that fell due are served
                    # at once, up to MAX_LAG of them; a host that fell further behind starts a new schedule.
                    start = self.next_step_at or now
                    self.next_step_at = max(start + self.step_interval, now - MAX_LAG)
                elif self.settings.lockstep:
                    return 0.0

    def _answer(self, frame: bytes) -> bytes | bytearray:
        if self.stopping and frame[:1] != wire.CLOSE:
            return wire.encode_error(wire.ERROR_STATE, "ServerStopped", f"the blendgym server of {self.name} was stopped in Blender")
        return self.session.handle(frame)

    def _host_alive(self) -> bool:
        if not self.agent.host_alive():
            return False
        pid, host = self.session.host_pid, self.session.host
        if pid is None or host != socket.gethostname():
            return True  # no host yet, or one on another machine: it says goodbye with a close request
        return wire.process_exists(pid)

    def _window_reply(self) -> bytes:
        try:
            image, camera_frame = screenshot(os.path.join(self.private_dir, SCREENSHOT_FILE))
        except Exception as error:
            return wire.encode_error(wire.ERROR_ATTRIBUTE, type(error).__name__, str(error), traceback.format_exc())
        return wire.encode_window_reply(image, camera_frame)

    def end(self) -> None:
        if self.ended:
            return
        self.ended = True
        self.session.view.close()
        self.agent.close()
        _redraw_views()
        self.on_end()


def serve_in_window(agent: RemoteControlledAgent, session: Session, settings: ViewSettings, private_dir: str) -> None:
    """Serve an env that the host launched with ``render_mode="human"``; Blender quits when serving ends."""
    preferences = bpy.context.preferences
    preferences.view.show_splash = False  # it would cover the view
    preferences.view.use_save_prompt = False  # closing the window ends the env, with nothing to save
    preferences.edit.use_global_undo = False  # no undo memory per step, and no quit.blend left behind
    scene = session.env.scene
    scene.render.resolution_x, scene.render.resolution_y = settings.width, settings.height

    def on_end() -> None:
        if not agent.host_alive():
            shutil.rmtree(private_dir, ignore_errors=True)  # the host would have removed it
        _quit_blender()

    server = LiveServer(agent, session, settings, name=session.hello["env_id"], address="", private_dir=private_dir, on_end=on_end)
    bpy.app.timers.register(_show_camera_view, first_interval=0.0)
    register_panel()
    server.start()


def attach(
    env_class: str,
    address: str = wire.DEFAULT_ATTACH_ADDRESS,
    *,
    real_time: bool = False,
    lockstep: bool = True,
    allow_remote: bool = False,
    **env_kwargs: Any,
) -> LiveServer:
    """Serve ``env_class`` (``module:Class`` or ``/path/file.py:Class``) in this Blender, on its current
    scene, until a host connects with ``blendgym.attach(address)`` and closes it. Blender stays open.

    Only hosts that present this server's secret may connect: it is printed here, and written to a file
    that only this user can read (``wire.attach_secret_path``), where hosts on this machine find it by
    themselves. A TCP address on another interface than loopback needs ``allow_remote=True``: whoever
    reaches the port and holds the secret then drives this Blender (docs/live.md, "Attach").
    """
    from .bootstrap import build_env, handshake

    if _server is not None and not _server.ended:
        raise RuntimeError(f"a blendgym server is already running here ({_server.name}); press Stop in the blendgym panel first")
    check_attach_address(address, allow_remote)
    secret = secrets.token_urlsafe(24)
    private_dir = tempfile.mkdtemp(prefix="blendgym-attached-")
    agent = RemoteControlledAgent(address, None, secret=secret)
    try:
        env = build_env(env_class, env_kwargs)
        settings = ViewSettings.from_options(human=True, real_time=real_time, lockstep=lockstep)
        view = View(env.scene, env.observation_space.to_json(), settings, private_dir)
        secret_path = _keep_secret(address, secret)
    except BaseException:
        agent.close()
        raise
    hello = handshake(env, view, env_id=env_class, env_class=env_class, instance=0, embedded=False, attached=True, lane=False)

    def on_end() -> None:
        shutil.rmtree(private_dir, ignore_errors=True)
        with contextlib.suppress(OSError):
            os.remove(secret_path)

    server = LiveServer(agent, Session(env, view, hello), settings, name=env_class, address=address, private_dir=private_dir, on_end=on_end)
    register_panel()
    server.start()
    print(
        f"blendgym: serving {env_class} at {address}; connect with blendgym.attach({address!r}), which reads the secret "
        f"from {secret_path} on this machine, or from elsewhere with blendgym.attach({address!r}, secret={secret!r})",
        flush=True,
    )
    return server


def check_attach_address(address: str, allow_remote: bool) -> None:
    """Refuse a TCP address on any interface but loopback unless ``allow_remote``; ValueError says why."""
    if not address.startswith("tcp://"):
        return
    interface = address[len("tcp://") :].rpartition(":")[0].strip("[]")
    if interface in LOOPBACK or allow_remote:
        return
    raise ValueError(
        f"{address} would accept hosts from other machines, and a host drives this Blender: bind 127.0.0.1 (the default), "
        "or pass allow_remote=True on a network you trust (connections still need the secret)"
    )


def _keep_secret(address: str, secret: str) -> str:
    """Write ``secret`` where this user's hosts look for it (readable by this user only); its path."""
    path = wire.attach_secret_path(address)
    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as file:
        file.write(secret)
    return path


# The window ----------------------------------------------------------------------------------------------


def _show_camera_view() -> None:
    """Fill the window with a 3D view that looks through the scene camera, drawn in material colours."""
    window = bpy.context.window_manager.windows[0]
    area = _largest_view_3d(window)
    if area is None:
        return None
    with bpy.context.temp_override(window=window, area=area, region=_window_region(area)):
        bpy.ops.screen.screen_full_area()
    area = _largest_view_3d(window)
    assert area is not None
    space = area.spaces.active
    space.region_3d.view_perspective = "CAMERA"
    space.shading.type = "SOLID"
    space.shading.color_type = "MATERIAL"
    space.shading.background_type = "WORLD"  # the scene's world colour, as renders show it
    space.overlay.show_overlays = False
    space.show_gizmo = False
    space.show_region_toolbar = False
    space.show_region_tool_header = False
    with bpy.context.temp_override(window=window, area=area, region=_window_region(area)):
        bpy.ops.view3d.view_center_camera()
    return None


def screenshot(path: str) -> tuple[np.ndarray, list[float] | None]:
    """The first window's pixels (H×W×3 uint8, top row first) and the box (x0, y0, x1, y1, from its top-left
    corner) in which its largest 3D view shows the scene camera's frame, or None if no view looks through it."""
    window = bpy.context.window_manager.windows[0]
    with bpy.context.temp_override(window=window):
        bpy.ops.screen.screenshot(filepath=path)
    image = bpy.data.images.load(path)
    try:
        width, height = image.size
        pixels = np.empty(width * height * 4, dtype=np.float32)
        image.pixels.foreach_get(pixels)
    finally:
        bpy.data.images.remove(image)
        os.remove(path)
    rgb = np.round(pixels.reshape(height, width, 4)[::-1, :, :3] * 255.0).astype(np.uint8)
    return rgb, _camera_frame(window)


def _camera_frame(window: bpy.types.Window) -> list[float] | None:
    area = _largest_view_3d(window)
    scene = window.scene
    if area is None or scene.camera is None or area.spaces.active.region_3d.view_perspective != "CAMERA":
        return None
    region = _window_region(area)
    camera = scene.camera
    corners = [
        location_3d_to_region_2d(region, area.spaces.active.region_3d, camera.matrix_world @ corner) for corner in camera.data.view_frame(scene=scene)
    ]
    xs = [region.x + corner.x for corner in corners]
    ys = [window.height - (region.y + corner.y) for corner in corners]
    return [min(xs), min(ys), max(xs), max(ys)]


def _largest_view_3d(window: bpy.types.Window) -> bpy.types.Area | None:
    areas = [area for area in window.screen.areas if area.type == "VIEW_3D"]
    return max(areas, key=lambda area: area.width * area.height, default=None)


def _window_region(area: bpy.types.Area) -> bpy.types.Region:
    return next(region for region in area.regions if region.type == "WINDOW")


def _redraw_views() -> None:
    for window in bpy.context.window_manager.windows:
        for area in window.screen.areas:
            if area.type == "VIEW_3D":
                area.tag_redraw()


def _quit_blender() -> None:
    window = bpy.context.window_manager.windows[0]
    with bpy.context.temp_override(window=window):
        bpy.ops.wm.quit_blender()


# The sidebar panel (View3D > Sidebar > blendgym) ---------------------------------------------------------


class BLENDGYM_OT_pause(bpy.types.Operator):
    """Pause or resume serving the host's requests (the host waits meanwhile)"""

    bl_idname = "blendgym.pause"
    bl_label = "Pause / Resume"

    def execute(self, context: Any) -> set[str]:
        if _server is not None:
            _server.paused = not _server.paused
        return {"FINISHED"}


class BLENDGYM_OT_stop(bpy.types.Operator):
    """Stop the blendgym server: the host's next request fails with a clear error"""

    bl_idname = "blendgym.stop"
    bl_label = "Stop"

    def execute(self, context: Any) -> set[str]:
        if _server is not None:
            _server.stop()
        return {"FINISHED"}


class BLENDGYM_PT_server(bpy.types.Panel):
    bl_idname = "BLENDGYM_PT_server"
    bl_label = "blendgym"
    bl_space_type = "VIEW_3D"
    bl_region_type = "UI"
    bl_category = "blendgym"

    def draw(self, context: Any) -> None:
        layout = self.layout
        if _server is None:
            layout.label(text="No server. In the Python console:")
            layout.label(text="import blendgym_blender.live as live; live.attach('module:Class')")
            return
        layout.label(text=_server.name)
        layout.label(text=_server.status)
        layout.label(text=f"steps served: {_server.steps}")
        if not _server.ended:
            row = layout.row()
            row.operator(BLENDGYM_OT_pause.bl_idname, text="Resume" if _server.paused else "Pause", icon="PLAY" if _server.paused else "PAUSE")
            row.operator(BLENDGYM_OT_stop.bl_idname, icon="CANCEL")


_PANEL_CLASSES = (BLENDGYM_OT_pause, BLENDGYM_OT_stop, BLENDGYM_PT_server)


def register_panel() -> None:
    for cls in _PANEL_CLASSES:
        if getattr(bpy.types, cls.__name__, None) is not None:
            bpy.utils.unregister_class(getattr(bpy.types, cls.__name__))
        bpy.utils.register_class(cls)
