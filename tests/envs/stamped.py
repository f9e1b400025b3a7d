"""blendgym/CartPole-v0's env with the Blender-side monotonic time at which each reset and step was served in
its info, so that tests judge pacing by Blender's own clock rather than by the host's wall clock."""

from __future__ import annotations

import time
from typing import Any

from blendgym_envs.cartpole import CartPole


class StampedCartPole(CartPole):
    def info(self) -> dict[str, Any]:
        return {**super().info(), "served_at": time.monotonic()}
