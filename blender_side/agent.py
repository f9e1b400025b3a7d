"""``RemoteControlledAgent``: the REP end of the channel, serving one ``SceneEnv`` (docs/protocol.md).

In background mode ``serve`` answers requests in a loop, over the socket or, after the handshake, through
the lane the host gave (lane.py); with Blender's UI, ``blendgym_blender.live`` answers them from a timer
instead, through the same ``Session``.
"""

from __future__ import annotations

import hmac
import os
import time
import traceback
from collections.abc import Callable
from typing import Any

import numpy as np
import zmq

from . import attributes, wire
from .curve_keys import AttachKeys
from .env import SceneEnv
from .generator import Generator
from .labels import Labeller
from .lane import Lane, Spinner
from .render import View

# How often an idle agent checks that the host is still alive.
PARENT_CHECK_MS = 250
CLOSE_OPCODE = wire.CLOSE[0]
HELLO_OPCODE = wire.HELLO[0]


class _AdmitOneKey:
    """pyzmq's CURVE credentials provider admitting only the hosts' key (``AttachKeys``)."""

    def __init__(self, key: bytes) -> None:
        self.key = key

    def callback(self, domain: str, key: bytes) -> bool:
        return hmac.compare_digest(key, self.key)


class RemoteControlledAgent:
    """Binds ``endpoint`` and answers hello, reset, step and close requests for one env.

    ``parent_pid`` is the host that started this Blender; an attached Blender has none, and watches the
    process that its session's handshake names instead, and admits only hosts that log in with its
    ``secret``. With a ``lane``, every request after the handshake comes through it, and this process spins
    for the next one for at most ``spin_limit`` seconds before sleeping, while the host has recently sent them
    that quickly (lane.Spinner).
    """

    def __init__(self, endpoint: str, parent_pid: int | None, lane: Lane | None = None, spin_limit: float = 0.0, secret: str | None = None) -> None:
        self.parent_pid = parent_pid
        self.lane = lane
        self.spinner = Spinner(spin_limit)
        self.context = zmq.Context(io_threads=1)
        self.authenticator = None
        self.socket = self.context.socket(zmq.REP)
        self.socket.setsockopt(zmq.LINGER, 1000)
        if secret is not None:
            # Only peers holding the key derived from the secret get through, and every frame is encrypted;
            # the check runs in libzmq's handshake, so a refused peer's frames never reach the session.
            from zmq.auth.thread import ThreadAuthenticator

            keys = AttachKeys.from_secret(secret)
            self.authenticator = ThreadAuthenticator(self.context)
            self.authenticator.start()
            self.authenticator.configure_curve_callback(domain="*", credentials_provider=_AdmitOneKey(keys.client_public))
            self.socket.curve_secretkey = keys.server_secret
            self.socket.curve_publickey = keys.server_public
            self.socket.curve_server = True
        self.socket.bind(endpoint)

    def host_alive(self) -> bool:
        return self.parent_pid is None or os.getppid() == self.parent_pid

    def receive(self) -> bytes | None:
        """The next request over the socket, or None once the host has died."""
        return self._next_request(lambda: bool(self.socket.poll(PARENT_CHECK_MS)), self.socket.recv)

    def receive_from_lane(self) -> bytes | None:
        """The next request through the lane, or None once the host has died."""
        lane, spinner = self.lane, self.spinner
        assert lane is not None
        started = time.perf_counter()
        request = self._next_request(lambda: lane.wait_request(spinner.budget(), PARENT_CHECK_MS / 1000), lane.take_request)
        spinner.record(time.perf_counter() - started)
        return request

    def _next_request(self, arrived: Callable[[], bool], take: Callable[[], bytes]) -> bytes | None:
        """Wait in slices of PARENT_CHECK_MS (``arrived`` waits one) until a request has come, checking between
        slices that the host lives; then ``take`` it."""
        while not arrived():
            if not self.host_alive():
                return None
        return take()

    def fail_start(self, error: BaseException) -> None:
        """Answer the host's hello with the error that stopped the env from being built."""
        reply = wire.encode_error(wire.ERROR_START, type(error).__name__, str(error), traceback.format_exc())
        if self.receive() is not None:
            self.socket.send(reply)

    def serve(self, session: Protocol) -> None:
        """Answer requests through ``session`` until the host says close or dies."""
        handle, receive = session.handle, self.receive
        send: Callable[[bytes | bytearray], Any] = self.socket.send
        while (frame := receive()) is not None:
            reply = handle(frame)
            send(reply)
            if reply[0] == CLOSE_OPCODE:
                return
            session.work_ahead()
            if reply[0] == HELLO_OPCODE and self.lane is not None:
                receive, send = self.receive_from_lane, self.lane.put_reply

    def close(self) -> None:
        self.socket.close()
        if self.authenticator is not None:
            self.authenticator.stop()
        self.context.term()
        if self.lane is not None:
            self.lane.close()
            self.lane.doorbell.close()


class Protocol:
    """What every session shares: the handshake, attribute requests on ``served`` (an env or a generator),
    close, and the rule that any frame gets a reply. Subclasses add their requests to ``handlers``.

    ``host_pid`` and ``host`` are those of the host that shook hands last (None before a handshake).
    """

    def __init__(self, served: object, hello: dict[str, Any]) -> None:
        self.served = served
        self.hello = hello
        self.host_pid: int | None = None
        self.host: str | None = None
        self.handlers: dict[int, Callable[[bytes], bytes | bytearray]] = {
            wire.HELLO[0]: self.on_hello,
            wire.CLOSE[0]: lambda frame: wire.CLOSE,
            wire.ATTRIBUTE[0]: self.on_attribute,
        }

    def handle(self, frame: bytes) -> bytes | bytearray:
        """The reply to any frame: a malformed one gets an E reply of kind ``protocol``, and the session goes on
        as if it had not come (docs/protocol.md, "Errors")."""
        handler = self.handlers.get(frame[0]) if frame else None
        if handler is None:
            return wire.encode_error(wire.ERROR_PROTOCOL, "ProtocolError", f"unknown opcode {frame[:1]!r}")
        try:
            return handler(frame)
        except wire.ProtocolError as error:
            return wire.encode_error(wire.ERROR_PROTOCOL, "ProtocolError", str(error))
        except Exception as error:  # Whatever a frame holds, it must not stop the server.
            return wire.encode_error(wire.ERROR_PROTOCOL, "ProtocolError", f"malformed {frame[:1]!r} request: {type(error).__name__}: {error}")

    def work_ahead(self) -> None:
        """Work done between sending a reply and waiting for the next request. Nothing by default."""

    def refuse(self, opcodes: bytes, message: str) -> None:
        """Answer the requests of ``opcodes`` with an E reply of kind ``state`` saying ``message``."""
        for opcode in opcodes:
            self.handlers[opcode] = lambda frame: wire.encode_error(wire.ERROR_STATE, "NotServed", message)

    def on_hello(self, frame: bytes) -> bytes:
        request = wire.decode_request_body(frame)
        if not isinstance(request, dict):
            raise wire.ProtocolError("a hello is a JSON object")
        if request.get("protocol") != wire.PROTOCOL_VERSION:
            raise wire.ProtocolError(f"host speaks protocol {request.get('protocol')}, Blender side {wire.PROTOCOL_VERSION}")
        self.host_pid, self.host = request.get("host_pid"), request.get("host")
        return wire.encode_hello_reply(self.hello)

    def on_attribute(self, frame: bytes) -> bytes:
        request = wire.decode_request_body(frame)
        try:
            if not isinstance(request, dict):
                raise wire.ProtocolError("an attribute request is a JSON object")
            if "get" in request:
                value = attributes.get_attribute(self.served, request["get"])
            elif "set" in request:
                attributes.set_attribute(self.served, request["set"], request.get("value"))
                value = None
            elif "call" in request:
                value = attributes.call_method(self.served, request["call"], list(request.get("args", [])), dict(request.get("kwargs", {})))
            else:
                raise wire.ProtocolError("an attribute request names one of get, set or call")
            return wire.encode_attribute_reply(value)
        except attributes.AttributeRequestError as error:
            return wire.encode_error(wire.ERROR_ATTRIBUTE, error.kind.__name__, str(error))
        except wire.ProtocolError:
            raise
        except Exception as error:
            return wire.encode_error(wire.ERROR_ATTRIBUTE, type(error).__name__, str(error), traceback.format_exc())


class Session(Protocol):
    """The protocol state of one env: which requests are allowed now, and how each is answered."""

    def __init__(self, env: SceneEnv, view: View, hello: dict[str, Any]) -> None:
        super().__init__(env, hello)
        self.env = env
        self.view = view
        self.observation = wire.Layout(view.observation_space)
        self.action = wire.Layout(env.action_space.to_json())
        self.needs_reset = True
        self.handlers.update(
            {
                wire.RESET[0]: self.on_reset,
                wire.STEP[0]: self.on_step,
                wire.IMAGE[0]: self.on_image,
                wire.WINDOW[0]: lambda frame: wire.encode_error(
                    wire.ERROR_STATE, "NoWindow", "this Blender has no window: make the env with render_mode='human'"
                ),
            }
        )
        self.refuse(wire.ITEM, "this Blender serves an env, not a data generator")

    def on_reset(self, frame: bytes) -> bytes:
        request = wire.decode_request_body(frame)
        seed, options = (request.get("seed"), request.get("options")) if isinstance(request, dict) else (None, None)
        if not isinstance(request, dict) or not (seed is None or type(seed) is int) or not (options is None or isinstance(options, dict)):
            raise wire.ProtocolError("a reset is a JSON object whose seed is an integer or null and whose options are an object or null")
        try:
            observation, info = self.env.reset(seed, options or {})
            reply = wire.encode_reset_reply(self.observation.pack(self.view.observation(observation)), self.view.info(info))
        except Exception as error:
            self.needs_reset = True
            return _served_error(error)
        self.needs_reset = False
        return reply

    def on_step(self, frame: bytes) -> bytes:
        if self.needs_reset:
            return wire.encode_error(wire.ERROR_STATE, "ResetNeeded", "call reset() before step(): the env has no episode running")
        action = self.action.unpack(frame, len(wire.STEP_REQUEST_PREFIX))
        if not self.env.action_space.contains(action):
            raise wire.ProtocolError("the action lies outside the env's action space")
        try:
            observation, reward, terminated, truncated, info = self.env.step(action)
            view = self.view
            return wire.encode_step_reply(self.observation.pack(view.observation(observation)), reward, terminated, truncated, view.info(info))
        except Exception as error:
            self.needs_reset = True
            return _served_error(error)

    def on_image(self, frame: bytes) -> bytes:
        renderer = self.view.renderer
        if renderer is None:
            return wire.encode_error(wire.ERROR_STATE, "RenderingOff", "this env was made without render_mode='rgb_array' or pixel observations")
        try:
            return wire.encode_image_reply(renderer.render())
        except Exception as error:
            return wire.encode_error(wire.ERROR_ATTRIBUTE, type(error).__name__, str(error), traceback.format_exc())


class GeneratorSession(Protocol):
    """The protocol state of one data generator: items on request (docs/protocol.md, "Items").

    A request names the item to make after this one (``next``): it is made as soon as the reply is sent, and
    kept, so that Blender works while the host handles the reply; a next request for the same item, seed
    and parameters is answered with it at once, any other makes its own.
    """

    def __init__(self, generator: Generator, labeller: Labeller, hello: dict[str, Any]) -> None:
        super().__init__(generator, hello)
        self.generator = generator
        self.labeller = labeller
        self.planned: tuple[int, int, dict[str, Any]] | None = None
        self.made: tuple[tuple[int, int, dict[str, Any]], bytes | bytearray] | None = None
        self.handlers[wire.ITEM[0]] = self.on_item
        self.refuse(wire.RESET + wire.STEP + wire.IMAGE + wire.WINDOW, "this Blender serves a data generator, not an env")

    def on_item(self, frame: bytes) -> bytes | bytearray:
        index, seed, values, following = wire.decode_item_request(frame)
        made, self.made = self.made, None
        reply = made[1] if made is not None and made[0] == (index, seed, values) else self._make(index, seed, values)
        self.planned = (following, seed, values) if following is not None else None
        return reply

    def work_ahead(self) -> None:
        if self.planned is not None:
            planned, self.planned = self.planned, None
            self.made = (planned, self._make(*planned))

    def _make(self, index: int, seed: int, values: dict[str, Any]) -> bytes | bytearray:
        generator = self.generator
        try:
            generator.update_parameters(values)
            own = generator.generate(np.random.default_rng([seed, index]))
            labels, arrays = self.labeller.label(generator.labelled_objects(), own)
        except Exception as error:
            return _served_error(error)
        return wire.encode_item_reply({"index": index, "seed": seed, "parameters": dict(generator.params), **labels}, arrays)


def _served_error(error: Exception) -> bytes:
    return wire.encode_error(wire.ERROR_ENV, type(error).__name__, str(error), traceback.format_exc())
