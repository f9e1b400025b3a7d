"""The CURVE keys of an attached Blender and of the hosts it admits, derived from its secret
(docs/protocol.md, "Attached Blender"). Both sides import it: the host as ``blendgym_blender.curve_keys``."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import zmq
from zmq.utils import z85


@dataclass(frozen=True)
class AttachKeys:
    """The CURVE keys (Z85 text) of an attached Blender and of the hosts it admits, all derived from its
    secret (docs/protocol.md, "Attached Blender"): whoever holds the secret can log in, and nothing on the
    wire, the secret included, can be read by anyone else."""

    server_public: bytes
    server_secret: bytes
    client_public: bytes
    client_secret: bytes

    @classmethod
    def from_secret(cls, secret: str) -> AttachKeys:
        if not zmq.has("curve"):
            raise RuntimeError(
                f"this pyzmq (libzmq {zmq.zmq_version()}) was built without CURVE encryption, which attaching needs: "
                "install pyzmq's wheel from PyPI (pip install --force-reinstall pyzmq)"
            )
        # Any 32 random bytes are a Curve25519 secret key; a hash per role keeps the two keys apart.
        server_secret, client_secret = (
            z85.encode(hashlib.sha256(f"blendgym attach {role}\0{secret}".encode()).digest()) for role in ("server", "host")
        )
        return cls(zmq.curve_public(server_secret), server_secret, zmq.curve_public(client_secret), client_secret)
