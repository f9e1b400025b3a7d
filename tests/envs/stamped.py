"""blendgym/CartPole-v0's env paced at 2 steps per second in real time (rather than 50), so that Blender's
redraws keep up with the pacing even on a slow, loaded machine, and with a remotely callable count of the
steps that Blender's live server served only after waiting for their due time."""

from __future__ import annotations

import blendgym_blender.live as live
from blendgym_blender import remote
from blendgym_envs.cartpole import CartPole


class StampedCartPole(CartPole):
    @property
    def render_fps(self) -> float:
        return 2.0

    @remote
    def paced_steps(self) -> int:
        assert live._server is not None, "not served from Blender's UI"
        return live._server.paced_steps
