"""A data generator that fails on request, for tests/test_data.py: the Shapes generator, plus

- ``raise_at``: generate() raises ValueError for the item this process makes as its ``raise_at``-th (from 0);
- ``hang_once``: a file path; the first item made while the file exists deletes it and hangs (a Blender
  that stops answering), so that the restarted process makes the item again, as it would after a real hang.
"""

from __future__ import annotations

import os
import time
from typing import Any

import numpy as np
from blendgym_envs.shapes import Shapes


class FaultyShapes(Shapes):
    def __init__(self, raise_at: int = -1, hang_once: str = "") -> None:
        super().__init__()
        self.raise_at = raise_at
        self.hang_once = hang_once
        self.made = 0

    def generate(self, rng: np.random.Generator) -> dict[str, Any]:
        self.made += 1
        if self.made == self.raise_at + 1:
            raise ValueError(f"item number {self.raise_at} of this process is broken on purpose")
        if self.hang_once and os.path.exists(self.hang_once):
            os.remove(self.hang_once)
            time.sleep(3600)
        return super().generate(rng)


class UnseededShapes(Shapes):
    """Shapes drawn from a generator seeded afresh in each process, not from the item's rng: the conformance
    check must catch it."""

    def generate(self, rng: np.random.Generator) -> dict[str, Any]:
        return super().generate(np.random.default_rng())
