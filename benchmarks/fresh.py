"""Measurements in fresh processes, which the benchmarks run one at a time and take turns between."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterable
from typing import Any

import gymnasium


def tight_loop(env: gymnasium.Env, actions: Iterable[Any]) -> float:
    """Steps per second of ``env`` given ``actions`` one after another, resetting where an episode ends (the
    resets are part of the cost, as in a trainer's rollouts)."""
    steps = 0
    start = time.perf_counter()
    for action in actions:
        _, _, terminated, truncated, _ = env.step(action)
        steps += 1
        if terminated or truncated:
            env.reset()
    return steps / (time.perf_counter() - start)


def measurement(command: list[str], marker: str = "") -> dict[str, Any]:
    """Run ``command`` and return the JSON object on the last line it printed that starts with ``marker``;
    a failed run raises with the end of what it wrote to stderr, so that the table's absence is explained."""
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"the measurement {command[1:4]} exited with code {done.returncode}:\n{done.stderr[-3000:]}")
    lines = [line for line in done.stdout.splitlines() if line.startswith(marker)]
    if not lines:
        raise RuntimeError(f"the measurement {command[1:4]} printed no line starting with {marker!r}:\n{done.stdout[-3000:]}")
    return json.loads(lines[-1][len(marker) :])
