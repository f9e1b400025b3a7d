"""blendgym's Blender side: what runs inside a Blender process to serve one env.

Installed as ``blendgym_blender``. Needs only bpy, numpy and pyzmq. ``wire``, ``spaces``, ``attributes`` and ``view``
import no bpy, so the host shares them; ``env``, ``render`` and ``agent`` run inside Blender only.
"""

from .attributes import remote

__all__ = ["remote"]
