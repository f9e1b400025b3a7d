"""blendgym's Blender side: what runs inside a Blender process to serve one env.

Installed as ``blendgym_blender``. Needs only bpy, numpy and pyzmq. ``wire`` and ``spaces`` import no bpy,
so the host shares them; ``env`` and ``agent`` run inside Blender only.
"""
