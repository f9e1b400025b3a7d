"""The REQ end of one Blender-side agent's channel: one request at a time, typed errors, no endless waits.

``Channel`` knows sockets, lanes and replies, not where Blender came from: ``BlenderProcess`` (process.py)
launched its Blender, ``AttachedBlender`` (attached.py) connects to one the user opened (docs/protocol.md).
"""

from __future__ import annotations

import abc
import os
import socket
import struct
import time
from collections.abc import Callable
from typing import Any, Literal, TypeVar

import zmq
from blendgym_blender import wire
from blendgym_blender.curve_keys import AttachKeys
from blendgym_blender.lane import Lane, Spinner

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
from .transport import LaneTransport, SocketTransport, Transport

# How long the host waits between checks that Blender is alive while a reply is outstanding.
POLL_MS = 100
ERROR_OPCODE = wire.ERROR[0]
START_UP = "start-up"
Decoded = TypeVar("Decoded")


def decode_reply(name: str, what: str, decode: Callable[[bytes], Decoded], reply: bytes) -> Decoded:
    """``decode(reply)``; a reply that does not follow docs/protocol.md is a ``BlenderProtocolError`` naming
    the env and the request, whatever the decoder tripped on."""
    try:
        return decode(reply)
    except (wire.ProtocolError, struct.error, KeyError, TypeError, ValueError) as error:
        raise BlenderProtocolError(
            f"{name}: Blender's reply to {what} does not follow the protocol ({type(error).__name__}: {error}). "
            "Both sides must be the same blendgym version: reinstall blendgym."
        ) from None


class Channel(abc.ABC):
    """A REQ socket connected to ``endpoint``, and the Blender at its other end.

    ``name`` is how errors refer to the env. ``hello`` is the handshake reply (spaces, versions), filled in by
    ``finish_start``, which also checks that Blender serves what ``serves`` says: an env or a data generator.
    A pool passes its own ZeroMQ ``context`` so that all its sockets share one I/O thread.
    ``secret`` logs in to an attached Blender (docs/protocol.md, "Attached Blender").
    With a ``lane`` that Blender accepts in its handshake, every later frame goes through the lane, where
    the host spins for a reply for at most ``spin_limit`` seconds before sleeping, while Blender has
    recently answered that quickly (lane.Spinner).
    """

    name: str
    serves: Literal["env", "generator"] = "env"

    def __init__(
        self,
        endpoint: str,
        context: zmq.Context[zmq.Socket[bytes]] | None,
        lane: Lane | None = None,
        spin_limit: float = 0.0,
        secret: str | None = None,
    ) -> None:
        self._own_context = context is None
        self.context = zmq.Context(io_threads=1) if context is None else context
        self.endpoint = endpoint
        self.socket = self._connect(secret)
        self.lane = lane
        self.spin_limit = spin_limit
        self.transport: Transport = SocketTransport(self.socket)
        self.pending: str | None = None
        self.sent_at = 0.0
        self.hello: dict[str, Any] = {}

    def _connect(self, secret: str | None) -> zmq.Socket[bytes]:
        socket = self.context.socket(zmq.REQ)
        socket.setsockopt(zmq.LINGER, 0)
        if secret is not None:
            keys = AttachKeys.from_secret(secret)
            socket.curve_serverkey = keys.server_public
            socket.curve_publickey = keys.client_public
            socket.curve_secretkey = keys.client_secret
        socket.connect(self.endpoint)
        return socket

    def reconnect(self, secret: str | None) -> None:
        """A new socket, logging in with ``secret``; whatever was pending is dropped."""
        self.socket.close(linger=0)
        self.socket = self._connect(secret)
        self.transport = SocketTransport(self.socket)
        self.pending = None

    @property
    @abc.abstractmethod
    def alive(self) -> bool:
        """Whether the Blender at the other end still runs."""

    @abc.abstractmethod
    def exit_report(self) -> str:
        """How Blender ended, for the message of an error raised once it is gone."""

    @abc.abstractmethod
    def kill(self) -> None:
        """Stop waiting for this Blender for good (a launched one is killed)."""

    def log_tail(self) -> str:
        """The end of Blender's output, where the host has it."""
        return ""

    def advice(self, what: str) -> str:
        """What the user can do after ``what`` failed."""
        if what == START_UP:
            return "Raise startup_timeout= if Blender starts slowly here, and read its output below."
        return f"The next reset() starts a new one; raise timeout= if {what} is slow on purpose."

    def shake_hands(self) -> None:
        self.send(wire.encode_hello(os.getpid(), socket.gethostname()), START_UP)

    def finish_start(self, startup_timeout: float) -> dict[str, Any]:
        """Wait for the handshake reply; closes the channel if it fails."""
        try:
            self.take_hello(self.receive(startup_timeout))
        except (BlenderProcessDied, BlenderTimeoutError) as error:
            self.close()
            raise BlenderStartError(str(error)) from None
        except BaseException:
            self.close()
            raise
        return self.hello

    def take_hello(self, reply: bytes) -> None:
        """Keep the handshake reply; from now on frames go through the lane if Blender accepted it."""
        hello = decode_reply(self.name, START_UP, wire.decode_json_body, reply)
        version = hello.get("protocol") if isinstance(hello, dict) else None
        if version != wire.PROTOCOL_VERSION:
            raise BlenderProtocolError(
                f"{self.name}: the Blender side speaks protocol {version}, this blendgym {wire.PROTOCOL_VERSION}: "
                "reinstall blendgym so that both sides are the same version"
            )
        served = "generator" if hello.get("generator") is True else "env"
        if served != self.serves:
            remedy = (
                "a data generator, not an env: stream its items with blendgym.data.BlenderDataset"
                if served == "generator"
                else "an env, not a blendgym_blender.generator.Generator: make it with gymnasium.make or blendgym.BlenderEnv"
            )
            raise ValueError(f"{self.name}: {hello.get('env_class')} is {remedy}")
        self.hello = hello
        if self.lane is not None and self.hello.get("lane") is True:
            self.transport = LaneTransport(self.lane, Spinner(self.spin_limit))

    @property
    def on_lane(self) -> bool:
        return isinstance(self.transport, LaneTransport)

    def request(self, frame: bytes, timeout: float | None, what: str) -> bytes:
        """Send one request and return its reply; raises the typed error of an E reply, a death or a timeout."""
        self.send(frame, what)
        return self.receive(timeout)

    def send(self, frame: bytes, what: str) -> None:
        """Send a request without waiting; ``what`` names it in errors. One request at a time."""
        if self.pending is not None:
            raise BlenderProtocolError(f"{self.name}: the previous {self.pending} never got its reply; reset() the env")
        self.pending = what
        self.sent_at = time.monotonic()
        self.transport.send(frame)

    def poll_reply(self, wait: float) -> bytes | None:
        """The reply, if it comes within ``wait`` seconds."""
        return self.transport.take() if self.transport.wait(wait) else None

    def receive(self, timeout: float | None) -> bytes:
        """The reply to the request sent, waiting up to ``timeout`` seconds from when it was sent (None: as
        long as Blender runs)."""
        while (reply := self.poll_reply(POLL_MS / 1000)) is None:
            self.check(timeout)
        what = self.pending or "request"
        self.pending = None
        if reply[0] == ERROR_OPCODE:
            raise self.error_from_reply(reply, what)
        return reply

    def check(self, timeout: float | None) -> None:
        """Raise if Blender has gone, or give up on it and raise if its request is older than ``timeout``."""
        what = self.pending or "request"
        if not self.alive:
            raise BlenderProcessDied(f"{self.name}: {self.exit_report()} during {what}. {self.advice(what)}{self.log_tail()}")
        if timeout is not None and time.monotonic() - self.sent_at >= timeout:
            self.kill()
            raise BlenderTimeoutError(
                f"{self.name}: no reply to {what} within {timeout:g} s; the Blender process was killed. {self.advice(what)}{self.log_tail()}"
            )

    def error_from_reply(self, reply: bytes, what: str) -> BlendgymError:
        """The typed exception for an ``E`` reply to ``what`` (docs/protocol.md, "Errors")."""
        error = decode_reply(self.name, what, wire.decode_error_reply, reply)
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

    def close_socket(self) -> None:
        """Close the socket; frames stop going through the lane (its owner unmaps it)."""
        self.socket.close(linger=0)
        if self._own_context:
            self.context.term()
        self.transport = SocketTransport(self.socket)

    @abc.abstractmethod
    def close(self) -> None:
        """Say goodbye to Blender and close the socket; idempotent."""
