"""Where each sub-env's episode stands in a vector env: the autoreset bookkeeping and the crash policy.

``BlenderVectorEnv`` moves frames through its pool; this module alone decides what a sub-env's next request
is (a step, or the reset that gymnasium's autoreset mode asks for), when an episode ends (terminated,
truncated, or at the time limit), and what a request lost with a restarted Blender process means for the
episode: a step comes back truncated with ``info["blender_restart"]``; a lost reset is made again.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from gymnasium.vector import AutoresetMode

from .errors import BlenderEnvError
from .pool import Failure

RESTART_INFO = "blender_restart"


@dataclass(slots=True)
class SubEnvResult:
    """What one sub-env's step came to (its observation is in the batch). In SAME_STEP mode a finished
    episode's last observation and info are in ``final_obs`` and ``final_info``, and ``info`` is the new
    episode's reset info."""

    reward: float
    terminated: bool
    truncated: bool
    info: dict[str, Any]
    final_obs: Any = None
    final_info: dict[str, Any] | None = None


class Episodes:
    """The episodes of ``num_envs`` sub-envs named ``name[i]`` in errors, under ``autoreset_mode``, truncated
    after ``max_episode_steps`` steps (None: never)."""

    def __init__(self, num_envs: int, name: str, autoreset_mode: AutoresetMode, max_episode_steps: int | None) -> None:
        self.name = name
        self.autoreset_mode = autoreset_mode
        self.max_episode_steps = max_episode_steps
        self.finished = [False] * num_envs  # the episode ended at the last step
        self._elapsed = [0] * num_envs
        self._lost: dict[int, Failure] = {}  # sub-envs whose process was restarted between steps

    def next_request(self, index: int) -> Literal["step", "reset"]:
        """What sub-env ``index`` is sent for its next action: a step, or the reset that ends its finished
        episode in NEXT_STEP mode; in the other modes a finished episode must be reset by the caller."""
        if not self.finished[index]:
            return "step"
        if self.autoreset_mode == AutoresetMode.NEXT_STEP:
            return "reset"
        if self.autoreset_mode == AutoresetMode.DISABLED:
            raise ValueError(f"{self.name}[{index}]: its episode has ended; reset it with options={{'reset_mask': ...}}")
        # SAME_STEP resets as the episode ends, so only a failed reset leaves one finished here.
        raise BlenderEnvError(f"{self.name}[{index}]: its episode has ended and was not reset; call reset()")

    def started(self, index: int) -> None:
        """Sub-env ``index`` was reset: a new episode runs."""
        self.finished[index] = False
        self._elapsed[index] = 0

    def stepped(self, index: int, reward: float, terminated: bool, truncated: bool, info: dict[str, Any]) -> SubEnvResult:
        """Sub-env ``index`` answered a step; its episode is truncated at the time limit."""
        self._elapsed[index] += 1
        if self.max_episode_steps is not None and self._elapsed[index] >= self.max_episode_steps:
            truncated = True
        self.finished[index] = terminated or truncated
        return SubEnvResult(reward, terminated, truncated, info)

    def crashed(self, index: int, failure: Failure) -> SubEnvResult:
        """Sub-env ``index``'s step was lost with its process, which was restarted: the episode is truncated
        (reward 0, the last observation), and says why."""
        self.finished[index] = True
        return SubEnvResult(0.0, False, True, {RESTART_INFO: failure.reason})

    def lose(self, index: int, failure: Failure) -> None:
        """Sub-env ``index``'s process was restarted between steps (while draining, or answering an
        attribute request): its next step reports the episode as truncated."""
        self._lost[index] = failure

    def take_lost(self, index: int) -> Failure | None:
        """The restart that sub-env ``index``'s next step must report, if any; reported once."""
        return self._lost.pop(index, None) if self._lost else None
