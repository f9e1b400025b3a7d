"""One Blender process serving one env, and the REQ socket that talks to it (docs/protocol.md).

Processes are ended by ``close()``, by garbage collection, at interpreter exit and on SIGTERM; each also
exits by itself within a quarter second when its host dies, even by SIGKILL.
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
import time
import weakref
from importlib.util import find_spec
from pathlib import Path
from typing import Any

import zmq

from blendgym_blender import wire
from blendgym_blender.view import ViewSettings

from .blender import Blender
from .errors import (
    BlenderAttributeError,
    BlenderCallError,
    BlenderEnvError,
    BlenderEnvValueError,
    BlenderProcessDied,
    BlenderProtocolError,
    BlenderStartError,
    BlenderTimeoutError,
    BlendgymError,
)

# How long the host waits between checks that the process is alive while a reply is outstanding.
POLL_MS = 100
CLOSE_TIMEOUT = 5.0
ERROR_OPCODE = wire.ERROR[0]
LOG_TAIL_LINES = 40

_live: weakref.WeakSet[BlenderProcess] = weakref.WeakSet()
_sigterm_lock = threading.Lock()


class BlenderProcess:
    """Starts Blender with the env's Blender-side class, shakes hands, and forwards requests.

    ``name`` is how errors refer to the env; ``view`` says what Blender renders for it. ``hello`` is the handshake reply (spaces, versions). With
    ``wait=False`` the constructor returns once Blender is launched and asked for its handshake, so several
    processes start in parallel; ``finish_start`` then waits for the reply. A pool passes its own ZeroMQ
    ``context`` so that all its sockets share one I/O thread.
    """

    def __init__(
        self,
        blender: Blender,
        env_class: str,
        env_kwargs: dict[str, Any],
        *,
        name: str,
        view: ViewSettings | None = None,
        seed: int | None = None,
        instance: int = 0,
        cpu: int | None = None,
        startup_timeout: float = 60.0,
        context: zmq.Context[zmq.Socket[bytes]] | None = None,
        wait: bool = True,
    ) -> None:
        self.blender = blender
        self.directory = tempfile.mkdtemp(prefix="blendgym-", dir=_memory_directory())
        self.log_path = Path(self.directory) / "blender.log"
        endpoint = f"ipc://{self.directory}/agent.sock"
        try:
            kwargs_json = json.dumps(env_kwargs)
        except TypeError as error:
            shutil.rmtree(self.directory, ignore_errors=True)
            raise ValueError(f"{name}: env keyword arguments must be JSON serialisable: {error}") from None
        arguments = [
            "--env-class", env_class,
            "--env-kwargs", kwargs_json,
            "--env-id", name,
            "--view", json.dumps((view or ViewSettings()).to_json()),
            "--endpoint", endpoint,
            "--parent-pid", str(os.getpid()),
            "--instance", str(instance),
            "--private-dir", self.directory,
            *(["--seed", str(seed)] if seed is not None else []),
            *(["--cpu", str(cpu)] if cpu is not None else []),
            *(f"--package={package}={package_directory(package)}" for package in ("blendgym_blender", "blendgym_envs")),
            *(f"--python-path={path}" for path in host_python_path()),
        ]
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                _command(blender) + arguments,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # Ctrl-C in a terminal reaches the host, which closes Blender itself.
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )
        self.name = f"{name} [{blender.describe()}, pid {self.process.pid}]"
        self._finalizer = weakref.finalize(self, _terminate, self.process, self.directory)
        _live.add(self)
        _install_sigterm_handler()
        self._own_context = context is None
        self.context = zmq.Context(io_threads=1) if context is None else context
        self.socket = self.context.socket(zmq.REQ)
        self.socket.setsockopt(zmq.LINGER, 0)
        self.socket.setsockopt(zmq.RCVTIMEO, POLL_MS)
        self.socket.connect(endpoint)
        self.pending: str | None = None
        self.sent_at = 0.0
        self.hello: dict[str, Any] = {}
        self.send(wire.encode_hello(), "start-up")
        if wait:
            self.finish_start(startup_timeout)

    def finish_start(self, startup_timeout: float) -> dict[str, Any]:
        """Wait for the handshake reply that ``__init__`` asked for; closes the process if it fails."""
        try:
            self.hello = wire.decode_json_body(self.receive(startup_timeout))
        except (BlenderProcessDied, BlenderTimeoutError) as error:
            self.close()
            raise BlenderStartError(str(error)) from None
        except BaseException:
            self.close()
            raise
        return self.hello

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def request(self, frame: bytes, timeout: float, what: str) -> bytes:
        """Send one request and return its reply; raises the typed error of an E reply, a death or a timeout."""
        self.send(frame, what)
        return self.receive(timeout)

    def send(self, frame: bytes, what: str) -> None:
        """Send a request without waiting; ``what`` names it in errors. One request at a time."""
        if self.pending is not None:
            raise BlenderProtocolError(f"{self.name}: the previous {self.pending} never got its reply; reset() the env")
        self.pending = what
        self.sent_at = time.monotonic()
        self.socket.send(frame)

    def receive(self, timeout: float) -> bytes:
        """The reply to the request sent, waiting up to ``timeout`` seconds from when it was sent."""
        recv = self.socket.recv
        while True:
            try:
                reply = recv()
                break
            except zmq.Again:
                pass
            self.check(timeout)  # outside the except clause, so that its error does not chain zmq.Again
        what = self.pending or "request"
        self.pending = None
        if reply[0] == ERROR_OPCODE:
            raise self.error_from_reply(reply, what)
        return reply

    def check(self, timeout: float) -> None:
        """Raise if the process has died, or kill it and raise if its request is older than ``timeout``."""
        what = self.pending or "request"
        if not self.alive:
            raise BlenderProcessDied(
                f"{self.name}: the Blender process exited with code {self.process.returncode} during {what}. "
                f"{_advice(what)}{self.log_tail()}"
            )
        if time.monotonic() - self.sent_at >= timeout:
            self.kill()
            raise BlenderTimeoutError(
                f"{self.name}: no reply to {what} within {timeout:g} s; the Blender process was killed. "
                f"{_advice(what)}{self.log_tail()}"
            )

    def error_from_reply(self, reply: bytes, what: str) -> BlendgymError:
        """The typed exception for an ``E`` reply to ``what`` (docs/protocol.md, "Errors")."""
        error = wire.decode_json_body(reply)
        kind, remote_type, message = error.get("kind"), error.get("type", ""), error.get("message", "")
        trace = error.get("traceback", "")
        if kind == wire.ERROR_START:
            return BlenderStartError(f"{self.name}: building the env in Blender raised {remote_type}: {message}\n\nBlender traceback:\n{trace}")
        if kind == wire.ERROR_ATTRIBUTE:
            text = f"{self.name}: {what} failed in Blender with {remote_type}: {message}. The episode goes on."
            if trace:
                text += f"\n\nBlender traceback:\n{trace}"
            attribute_class = BlenderAttributeError if remote_type == "AttributeError" else BlenderCallError
            return attribute_class(text, remote_type, trace)
        if kind == wire.ERROR_PROTOCOL:
            return BlenderProtocolError(f"{self.name}: the Blender side rejected the {what} request: {message}")
        text = f"{self.name}: {what} failed in Blender with {remote_type}: {message}. Call reset() to go on."
        if trace:
            text += f"\n\nBlender traceback:\n{trace}"
        error_class = BlenderEnvValueError if remote_type == "ValueError" else BlenderEnvError
        return error_class(text, remote_type, trace)

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

    def close(self) -> None:
        """Ask Blender to exit, wait briefly, then kill it; idempotent."""
        # At interpreter exit the finalizer may have killed the process already; the socket is closed anyway,
        # or terminating a shared context would wait for it forever.
        if self._finalizer.alive and self.alive and self.pending is None:
            try:
                self.request(wire.CLOSE, CLOSE_TIMEOUT, "close")
                self.process.wait(CLOSE_TIMEOUT)
            except Exception:
                pass  # Killed below.
        self.socket.close(linger=0)
        if self._own_context:
            self.context.term()
        self._finalizer()


def _advice(what: str) -> str:
    if what == "start-up":
        return "Raise startup_timeout= if Blender starts slowly here, and read its output below."
    return f"The next reset() starts a new one; raise timeout= if {what} is slow on purpose."


def _command(blender: Blender) -> list[str]:
    bootstrap = str(Path(package_directory("blendgym_blender")) / "bootstrap.py")
    if blender.embedded:
        return [blender.program, "-P", bootstrap]
    return [blender.program, "-b", "--factory-startup", "-noaudio", "--python-exit-code", "1", "--python", bootstrap, "--"]


def _memory_directory() -> str | None:
    """/dev/shm where it is usable: rendered images pass through a file there (blender_side/render.py)."""
    return "/dev/shm" if os.access("/dev/shm", os.W_OK | os.X_OK) else None


def host_python_path() -> list[str]:
    """This interpreter's import folders, which Blender appends to its own (numpy, pyzmq, user envs)."""
    return [path for path in sys.path if path and os.path.isdir(path)]


def package_directory(package: str) -> str:
    spec = find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise BlenderStartError(f"the package {package} is missing; reinstall blendgym (`pip install blendgym`)")
    return list(spec.submodule_search_locations)[0]


def _terminate(process: subprocess.Popen[bytes], directory: str) -> None:
    if process.poll() is None:
        process.kill()
        try:
            process.wait(CLOSE_TIMEOUT)
        except subprocess.TimeoutExpired:
            pass
    shutil.rmtree(directory, ignore_errors=True)


def _install_sigterm_handler() -> None:
    """On SIGTERM, kill our Blender processes, then die of SIGTERM as the process would have anyway.

    Installed only where SIGTERM still has its default action, and only from the main thread.
    """
    with _sigterm_lock:
        if threading.current_thread() is not threading.main_thread() or signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
            return
        signal.signal(signal.SIGTERM, _on_sigterm)


def _on_sigterm(signum: int, frame: Any) -> None:
    for process in list(_live):
        process.kill()
        process._finalizer()
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    os.kill(os.getpid(), signal.SIGTERM)
