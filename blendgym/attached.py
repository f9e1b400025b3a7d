"""``AttachedBlender``: the channel to a blendgym server that a user started inside their own Blender (docs/live.md).

The host did not launch this Blender, so it neither kills nor restarts it: it watches the process that the
handshake names (when both run on one machine) and, on ``close()``, asks the server to stop.
"""

from __future__ import annotations

import socket
import sysconfig
import time

from blendgym_blender import wire

from .channel import ERROR_OPCODE, START_UP, Channel
from .errors import BlenderStartError

CLOSE_TIMEOUT = 5.0
# How long one handshake attempt waits before the saved secret is read again.
RETRY_SECONDS = 1.0
CONSOLE_LINE = "import blendgym_blender.live as live; live.attach('module:Class')"


def console_line(env_class: str, address: str = wire.DEFAULT_ATTACH_ADDRESS) -> str:
    """The line to type into Blender's Python console to serve ``env_class`` at ``address``.

    It makes this environment's packages (blendgym, pyzmq, numpy) importable in Blender first, which works
    where Blender's Python has the same version as this one (Debian's Blender and Python 3.11, say);
    elsewhere install blendgym into Blender's own Python and drop that part (docs/live.md).
    """
    return f"{import_line()}; import blendgym_blender.live as live; live.attach({env_class!r}, {address!r})"


def import_line() -> str:
    """Python that makes this environment's packages importable in a Blender with the same Python version."""
    folders = sorted({sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]})
    return "import site; " + "; ".join(f"site.addsitedir({folder!r})" for folder in folders)


class AttachedBlender(Channel):
    """Connects to the server at ``address`` (``tcp://host:port``) and shakes hands within ``connect_timeout`` s,
    presenting ``secret``: by default the one the server wrote for this user on this machine."""

    def __init__(self, address: str, *, name: str | None = None, connect_timeout: float = 10.0, secret: str | None = None) -> None:
        self.address = address
        self.name = name or f"attached Blender at {address}"
        self._gone = False
        # A server writes its secret when it starts, which may be after this host: without one given, the
        # saved one is read again, and the handshake tried again with it, until the time is up.
        deadline = time.monotonic() + connect_timeout
        used = secret if secret is not None else _saved_secret(address)
        super().__init__(address, None, secret=used)
        while True:
            self.shake_hands()
            reply = self.poll_reply(min(RETRY_SECONDS, max(deadline - time.monotonic(), 0.0)))
            if reply is not None:
                break
            if time.monotonic() >= deadline:
                self.close_socket()
                raise self._not_admitted(connect_timeout, secret, used)
            used = secret if secret is not None else _saved_secret(address)
            self.reconnect(used)
        self.pending = None
        try:
            if reply[0] == ERROR_OPCODE:
                raise self.error_from_reply(reply, START_UP)
            self.take_hello(reply)
        except BaseException:
            self.close_socket()
            raise
        self.pid = int(self.hello["pid"])
        self.same_machine = self.hello.get("host") == socket.gethostname()
        self.name = f"{name or self.hello['env_id']} [attached Blender {self.hello['blender_version']}, pid {self.pid}, {address}]"

    def _not_admitted(self, connect_timeout: float, given: str | None, used: str | None) -> BlenderStartError:
        if given is not None:
            login = "the secret given"
        elif used is not None:
            login = f"the secret saved in {wire.attach_secret_path(self.address)}"
        else:
            login = "no secret (none was given, and none is saved on this machine)"
        return BlenderStartError(
            f"{self.name}: no blendgym server answered within {connect_timeout:g} s, logging in with {login}. Start one in Blender's "
            f"Python console with `{CONSOLE_LINE}` (docs/live.md), check that its address is {self.address!r}, and, from another "
            "machine or user, pass secret= with the one Blender printed: the server admits no host without it."
        )

    @property
    def alive(self) -> bool:
        if self._gone:
            return False
        if not getattr(self, "same_machine", False):
            return True  # before the handshake, or on another machine: only a reply or a timeout tells
        return wire.process_exists(self.pid)

    def exit_report(self) -> str:
        return "the connection was given up" if self._gone else "the attached Blender has exited"

    def advice(self, what: str) -> str:
        return "Start the server in Blender again and attach a new env."

    def kill(self) -> None:
        """The host cannot end a Blender it did not start: it stops waiting for it instead."""
        self._gone = True

    def close(self) -> None:
        """Ask the server to stop (Blender stays open with the user's file); idempotent."""
        if not self.socket.closed:
            if self.alive and self.pending is None:
                try:
                    self.request(wire.CLOSE, CLOSE_TIMEOUT, "close")
                except Exception:
                    pass  # The server is gone already.
            self.close_socket()


def _saved_secret(address: str) -> str | None:
    """The secret an attached Blender of this user wrote on this machine for ``address``, if any."""
    try:
        with open(wire.attach_secret_path(address)) as file:
            return file.read().strip()
    except OSError:
        return None
