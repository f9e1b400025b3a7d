"""blendgym: Blender as a Gymnasium simulator.

``import blendgym`` registers the ``blendgym/...`` env ids with gymnasium. The host side never imports bpy:
each env runs in its own Blender process (see docs/protocol.md).
"""

from .blender import Blender, find_blender
from .env import BlenderEnv, LaunchOptions, Screenshot, attach
from .errors import (
    BlenderAttributeError,
    BlenderCallError,
    BlenderDataError,
    BlenderEnvError,
    BlenderEnvValueError,
    BlenderNotFoundError,
    BlenderProcessDied,
    BlenderProtocolError,
    BlenderRestartLimitError,
    BlenderStartError,
    BlenderTimeoutError,
    BlendgymError,
    BlendgymPerformanceWarning,
)
from .registration import register_env, register_envs
from .vector import BlenderVectorEnv

__version__ = "0.1.0"

__all__ = [
    "Blender",
    "BlenderAttributeError",
    "BlenderCallError",
    "BlenderDataError",
    "BlenderEnv",
    "BlenderEnvError",
    "BlenderEnvValueError",
    "BlenderNotFoundError",
    "BlenderProcessDied",
    "BlenderProtocolError",
    "BlenderRestartLimitError",
    "BlenderStartError",
    "BlenderTimeoutError",
    "BlenderVectorEnv",
    "BlendgymError",
    "BlendgymPerformanceWarning",
    "LaunchOptions",
    "Screenshot",
    "attach",
    "find_blender",
    "register_env",
    "register_envs",
]

register_envs()
