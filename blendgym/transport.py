"""How one channel's frames travel: over its ZeroMQ socket, or through a lane once Blender has accepted it.

A channel chooses once, when Blender answers its handshake (docs/protocol.md, "Lanes"); from then on the
channel and the pool call only this interface, whichever it is.
"""

from __future__ import annotations

import abc
import time

import zmq
from blendgym_blender.lane import Lane, Spinner


class Transport(abc.ABC):
    """Sends a request and takes its reply; one request at a time.

    ``pollable`` is the socket that ZeroMQ can poll for the reply, or None where the reply rings the pool's
    doorbell instead (a lane).
    """

    pollable: zmq.Socket[bytes] | None

    @abc.abstractmethod
    def send(self, frame: bytes) -> None:
        """Send a request."""

    @abc.abstractmethod
    def replied(self) -> bool:
        """Whether the reply has come (``take`` then returns it at once)."""

    @abc.abstractmethod
    def wait(self, timeout: float) -> bool:
        """Whether the reply came within ``timeout`` seconds."""

    @abc.abstractmethod
    def take(self) -> bytes:
        """The reply that has come."""


class SocketTransport(Transport):
    """Every frame over the channel's REQ socket."""

    def __init__(self, socket: zmq.Socket[bytes]) -> None:
        self.pollable = self.socket = socket

    def send(self, frame: bytes) -> None:
        self.socket.send(frame)

    def replied(self) -> bool:
        return bool(self.socket.poll(0))

    def wait(self, timeout: float) -> bool:
        return bool(self.socket.poll(int(timeout * 1000)))

    def take(self) -> bytes:
        return self.socket.recv()


class LaneTransport(Transport):
    """Every frame through shared memory. A wait spins as long as ``spinner`` says (from how long Blender
    has recently taken to answer) before it sleeps."""

    pollable = None

    def __init__(self, lane: Lane, spinner: Spinner) -> None:
        self.lane = lane
        self.spinner = spinner
        self.sent_at = 0.0

    def send(self, frame: bytes) -> None:
        self.lane.put_request(frame)
        self.sent_at = time.perf_counter()

    def replied(self) -> bool:
        return self.lane.replied()

    def wait(self, timeout: float) -> bool:
        return self.lane.wait_reply(self.spinner.budget(), timeout)

    def take(self) -> bytes:
        self.spinner.record(time.perf_counter() - self.sent_at)
        return self.lane.take_reply()
