"""One Blender process serving one env, and the REQ socket that talks to it (docs/protocol.md).

Processes are ended by ``close()``, by garbage collection, at interpreter exit and on SIGTERM; when the host
dies otherwise (SIGKILL), an idle Blender exits by itself within a quarter second, and the host's janitor
(janitor.py) kills one that is busy and removes its private directory.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import weakref
from dataclasses import dataclass, field
from importlib.util import find_spec
from pathlib import Path
from typing import Any, Literal, get_args

import zmq
from blendgym_blender import lane as lanes
from blendgym_blender import wire
from blendgym_blender.view import ViewSettings

from . import janitor
from .blender import Blender, check_opens
from .channel import Channel
from .errors import BlenderStartError

CLOSE_TIMEOUT = 5.0
LOG_TAIL_LINES = 40

# The transport a user asks for ("auto": the shared-memory lane where both ends share a machine); the
# transports themselves are transport.Transport's subclasses.
TransportChoice = Literal["auto", "lane", "zmq"]
TRANSPORTS: tuple[str, ...] = get_args(TransportChoice)

_live: weakref.WeakSet[BlenderProcess] = weakref.WeakSet()
_sigterm_lock = threading.Lock()


@dataclass(frozen=True)
class LaunchSpec:
    """What every Blender process of one env, pool or data stream starts with: made once from the user's
    keywords (by ``BlenderEnv``, ``BlenderVectorEnv`` and ``BlenderDataset``), checked there, and passed whole.

    ``blender`` runs ``env_class`` (``module:Class``: an env or a data generator), built with ``env_kwargs``
    (JSON values); ``name`` is how errors name it (a pool's processes are ``name[i]``); ``view`` says what
    Blender renders and whether it opens a window (``view.human``, which needs a Blender executable);
    ``blend_file`` is opened before the class is built; ``startup_timeout`` bounds the start and the
    handshake; with ``lane``, frames after the handshake go through shared memory rather than ZeroMQ.
    ``serves``: what the handshake must say the class is (an env, or a data generator), checked once for the
    env, the pool and the data stream alike.
    """

    blender: Blender
    env_class: str
    env_kwargs: dict[str, Any]
    name: str
    view: ViewSettings = field(default_factory=ViewSettings)
    blend_file: str | None = None
    startup_timeout: float = 60.0
    lane: bool = False
    serves: Literal["env", "generator"] = "env"


class BlenderProcess(Channel):
    """Starts Blender as ``spec`` says, shakes hands, and forwards requests.

    ``name`` is how errors refer to this process (``spec.name`` unless a pool numbers it); ``seed`` and
    ``instance`` go to the Blender-side class; ``cpu`` is the core it is placed on (None: the OS decides).
    With ``wait=False`` the constructor returns once Blender is launched and asked for its handshake, so
    several processes start in parallel; ``finish_start`` then waits for the reply.

    With ``spec.lane``, frames after the handshake go through shared memory (``blendgym_blender.lane``),
    woken through ``doorbell`` (a pool's shared one; None makes one for this process), and each side spins for
    the other's next frame for at most ``spin_limit`` seconds before sleeping (``blendgym_blender.lane.Spinner``).
    """

    def __init__(
        self,
        spec: LaunchSpec,
        *,
        name: str | None = None,
        seed: int | None = None,
        instance: int = 0,
        cpu: int | None = None,
        context: zmq.Context[zmq.Socket[bytes]] | None = None,
        doorbell: lanes.Doorbell | None = None,
        spin_limit: float = 0.0,
        wait: bool = True,
    ) -> None:
        self.serves = spec.serves
        self.blender = blender = spec.blender
        name = name or spec.name
        lane, blend_file = spec.lane, spec.blend_file
        if blend_file is not None:
            check_opens(blender, blend_file, name)
        self.view = spec.view
        self.directory = tempfile.mkdtemp(prefix=private_prefix(), dir=_memory_directory())
        self.log_path = Path(self.directory) / "blender.log"
        endpoint = f"ipc://{self.directory}/agent.sock"
        self._own_doorbell = lanes.Doorbell() if lane and doorbell is None else None
        channel_lane = lanes.Lane(doorbell or self._own_doorbell) if lane else None
        try:
            kwargs_json = json.dumps(spec.env_kwargs)
        except TypeError as error:
            _terminate(None, self.directory, channel_lane, self._own_doorbell)
            raise ValueError(f"{name}: env keyword arguments must be JSON serialisable: {error}") from None
        arguments = [
            "--env-class",
            spec.env_class,
            "--env-kwargs",
            kwargs_json,
            "--env-id",
            name,
            "--view",
            json.dumps(self.view.to_json()),
            "--endpoint",
            endpoint,
            "--parent-pid",
            str(os.getpid()),
            "--instance",
            str(instance),
            "--private-dir",
            self.directory,
            *(["--blend-file", blend_file] if blend_file is not None else []),
            *(["--seed", str(seed)] if seed is not None else []),
            *(["--cpu", str(cpu)] if cpu is not None else []),
            *(["--lane", channel_lane.describe(), "--lane-spin-limit", repr(spin_limit)] if channel_lane is not None else []),
            *(f"--package={package}={package_directory(package)}" for package in ("blendgym_blender", "blendgym_envs")),
            *(f"--python-path={path}" for path in host_python_path()),
        ]
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                _command(blender, self.view, cpu) + arguments,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                pass_fds=(channel_lane.fd, channel_lane.doorbell.fd) if channel_lane is not None else (),
                start_new_session=True,  # Ctrl-C in a terminal reaches the host, which closes Blender itself.
                # Blender's own temporary files (its session folder, quit.blend) go to the private directory.
                env={**blender_environment(cpu), **os.environ, "PYTHONUNBUFFERED": "1", "TMPDIR": self.directory},
            )
        janitor.watch(self.process.pid, self.directory)
        self.name = f"{name} [{blender.describe()}, pid {self.process.pid}]"
        self._finalizer = weakref.finalize(self, _terminate, self.process, self.directory, channel_lane, self._own_doorbell)
        _live.add(self)
        _install_sigterm_handler()
        super().__init__(endpoint, context, channel_lane, spin_limit)
        self.shake_hands()
        if wait:
            self.finish_start(spec.startup_timeout)

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def exit_report(self) -> str:
        code = self.process.returncode
        if self.view.human and code == 0:
            return "the Blender window was closed"
        return f"the Blender process exited with code {code}"

    def log_tail(self) -> str:
        try:
            lines = self.log_path.read_text(errors="replace").splitlines()[-LOG_TAIL_LINES:]
        except OSError:
            return ""
        return "\n\nLast lines of Blender's output:\n" + "\n".join(lines) if lines else "\n\n(Blender printed nothing.)"

    def kill(self) -> None:
        if self.alive:
            self.process.kill()
            self.process.wait()

    def ask_to_close(self) -> None:
        """Ask Blender to exit without waiting, so that a pool's processes end together; ``close`` waits."""
        if self._finalizer.alive and self.alive and self.pending is None:
            try:
                self.send(wire.CLOSE, "close")
            except Exception:
                pass  # Killed by close().

    def close(self) -> None:
        """Ask Blender to exit, wait briefly, then kill it; idempotent."""
        # At interpreter exit the finalizer may have killed the process already; the socket is closed anyway,
        # or terminating a shared context would wait for it forever.
        self.ask_to_close()
        if self._finalizer.alive and self.alive and self.pending == "close":
            try:
                self.receive(CLOSE_TIMEOUT)
                self.process.wait(CLOSE_TIMEOUT)
            except Exception:
                pass  # Killed below.
        self.close_socket()
        self._finalizer()


def _command(blender: Blender, view: ViewSettings, cpu: int | None) -> list[str]:
    """The command line that starts ``blender`` on the bootstrap. A Blender placed on one core gets one thread
    of work: Blender's task scheduler (oneTBB) would otherwise keep a worker thread that spin-waits after every
    parallel task, taking a core from the trainer (docs/benchmarks.md, "Training"). The bpy module is held to
    it by the bootstrap, which pins itself before it imports bpy; an executable, by ``--threads 1``."""
    bootstrap = str(Path(package_directory("blendgym_blender")) / "bootstrap.py")
    if blender.embedded:
        return [blender.program, "-P", bootstrap]
    if view.human:
        width, height = view.window_size
        mode = ["--window-geometry", "0", "0", str(width), str(height)]
    else:
        mode = ["-b"]
    threads = ["--threads", "1"] if cpu is not None else []
    return [blender.program, *mode, *threads, "--factory-startup", "-noaudio", "--python-exit-code", "1", "--python", bootstrap, "--"]


def blender_environment(cpu: int | None) -> dict[str, str]:
    """Defaults for a Blender process (the user's environment overrides them; docs/benchmarks.md, "Data").

    glibc's malloc returns blocks of megabytes to the kernel when they are freed, so every rendered image
    costs its pages' faults again: keeping blocks under 32 MB in the heap, and up to 64 MB of it free, made a
    640x480 data item 3.8 ms instead of 5.1. Placed on one core, Mesa's software rasterizer (llvmpipe, the GPU
    of a machine without one) draws in the calling thread instead of handing each drawing to worker threads
    that could only take turns on that core (6.7 ms instead of 8.9).
    """
    environment = {"MALLOC_MMAP_THRESHOLD_": str(32 << 20), "MALLOC_TRIM_THRESHOLD_": str(64 << 20)}
    if cpu is not None:
        environment["LP_NUM_THREADS"] = "0"
    return environment


def _memory_directory() -> str | None:
    """/dev/shm where it is usable: rendered images pass through a file there (blender_side/render.py)."""
    return "/dev/shm" if os.access("/dev/shm", os.W_OK | os.X_OK) else None


def private_prefix() -> str:
    """How the private directories of this host's Blender processes begin: the host's pid tells whose a
    leftover one is, and lets a host count its own beside other hosts' (tests/test_vector.py)."""
    return f"blendgym-{os.getpid()}-"


def host_python_path() -> list[str]:
    """This interpreter's import folders, which Blender appends to its own (numpy, pyzmq, user envs). The
    empty entry (``python -c``, the interactive prompt) is the current directory, absolute for Blender's sake."""
    folders = (os.path.abspath(path or os.curdir) for path in sys.path)
    return [folder for folder in dict.fromkeys(folders) if os.path.isdir(folder)]


def package_directory(package: str) -> str:
    spec = find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise BlenderStartError(f"the package {package} is missing; reinstall blendgym (`pip install blendgym`)")
    return list(spec.submodule_search_locations)[0]


def uses_lane(transport: str, view: ViewSettings) -> bool:
    """Whether a launched Blender's channel with this ``transport`` runs over a lane (docs/protocol.md, "Lanes")."""
    if transport not in TRANSPORTS:
        raise ValueError(f"transport={transport!r}: use one of {', '.join(TRANSPORTS)}")
    if transport == "zmq":
        return False
    if transport == "lane":
        if not lanes.supported():
            raise ValueError("transport='lane' needs Linux on x86-64; use transport='auto' or 'zmq'")
        if view.human:
            raise ValueError("transport='lane' serves Blenders without a window; render_mode='human' runs over ZeroMQ")
        return True
    return lanes.supported() and not view.human


def _terminate(process: subprocess.Popen[bytes] | None, directory: str, lane: lanes.Lane | None, doorbell: lanes.Doorbell | None) -> None:
    _end(process, directory)
    for shared in (lane, doorbell):
        if shared is not None:
            shared.close()


def _end(process: subprocess.Popen[bytes] | None, directory: str) -> None:
    """Kill Blender if it still runs, and remove its private directory."""
    if process is not None and process.poll() is None:
        process.kill()
        try:
            process.wait(CLOSE_TIMEOUT)
        except subprocess.TimeoutExpired:
            pass
    shutil.rmtree(directory, ignore_errors=True)
    if process is not None:
        janitor.forget(process.pid)


def _install_sigterm_handler() -> None:
    """On SIGTERM, kill our Blender processes, then die of SIGTERM as the process would have anyway.

    Installed only where SIGTERM still has its default action, and only from the main thread.
    """
    with _sigterm_lock:
        if threading.current_thread() is not threading.main_thread() or signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
            return
        signal.signal(signal.SIGTERM, _on_sigterm)


def _on_sigterm(signum: int, frame: Any) -> None:
    # The lanes stay mapped: the interrupted code may be reading one (closing its map would raise
    # BufferError here), and the process dies next anyway.
    for process in list(_live):
        _end(process.process, process.directory)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    os.kill(os.getpid(), signal.SIGTERM)
