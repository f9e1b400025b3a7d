"""The exceptions blendgym raises. Every message names the env, the Blender process and what to do."""

from __future__ import annotations


class BlendgymError(RuntimeError):
    """Base class of blendgym's errors."""


class BlenderNotFoundError(BlendgymError):
    """No usable Blender: neither the embedded bpy module nor a Blender executable of version 3.4 or newer."""


class BlenderStartError(BlendgymError):
    """A Blender process did not come up: it exited, timed out or failed to build the env."""


class BlenderProcessDied(BlendgymError):
    """The Blender process exited while the host waited for it. The next ``reset()`` starts a new one."""


class BlenderTimeoutError(BlendgymError, TimeoutError):
    """The Blender process did not answer in time and was killed. The next ``reset()`` starts a new one."""


class BlenderProtocolError(BlendgymError):
    """A message broke docs/protocol.md, or the two sides speak different protocol versions."""


class BlenderEnvError(BlendgymError):
    """The Blender-side env raised. ``remote_traceback`` holds Blender's traceback; reset the env to go on."""

    def __init__(self, message: str, remote_type: str = "", remote_traceback: str = "") -> None:
        super().__init__(message)
        self.remote_type = remote_type
        self.remote_traceback = remote_traceback


class BlenderEnvValueError(BlenderEnvError, ValueError):
    """The Blender-side env raised ValueError, typically for bad reset options or env arguments."""


class BlenderCallError(BlenderEnvError):
    """A get, set or call on the Blender-side env failed (docs/protocol.md, "Attributes"); the episode goes on."""


class BlenderAttributeError(BlenderCallError, AttributeError):
    """An attribute request named something the Blender-side env does not offer; the episode goes on."""


class BlenderDataError(BlenderEnvError):
    """A data generator failed to make an item; the message names the item, its seed and parameters, and
    ``remote_traceback`` holds Blender's traceback."""


class BlenderRestartLimitError(BlendgymError):
    """A pool's Blender process failed more often than its restart limit allows; the pool gave up on it."""


class BlendgymPerformanceWarning(UserWarning):
    """A setting of the caller's makes training slower than it need be; blendgym changes nothing by itself."""
