"""Steps per second of blendgym/CartPole-v0 shown live in Blender's window, per pacing mode, in one run,
against the same env headless on the same Blender.

Method: each measurement makes the env with ``render_mode="human"`` (or none, for the headless row) and the
given Blender executable, resets it, takes 20 warm-up steps, then steps with a balancing controller
(episodes reset when they end) for --seconds and counts the steps. The window is --window wide and high
unless the row says otherwise. Run it under a display; on a headless machine, under Xvfb
(`xvfb-run -a -s "-screen 0 1280x1024x24" python benchmarks/bench_live.py`), where Mesa's llvmpipe
draws the window on the CPU, so these are software-rendering figures: a GPU draws a frame in milliseconds.
Prints one table; asserts nothing. Results and method are kept in docs/live.md.

    python benchmarks/bench_live.py [--blender /usr/bin/blender] [--seconds 6]
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import gymnasium

import blendgym

ENV_ID = "blendgym/CartPole-v0"

parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
parser.add_argument("--blender", default="blender", help="a Blender executable (the bpy module cannot open a window)")
parser.add_argument("--seconds", type=float, default=6.0)
parser.add_argument("--window", type=int, nargs=2, default=[960, 720], metavar=("WIDTH", "HEIGHT"))
args = parser.parse_args()

rows: list[tuple[str, dict[str, Any]]] = [
    ("headless (no window)", {}),
    ("human, lockstep (default)", {"render_mode": "human"}),
    ("human, lockstep, 640x480 window", {"render_mode": "human", "window_size": (640, 480)}),
    ("human, real_time=True", {"render_mode": "human", "real_time": True}),
    ("human, lockstep=False", {"render_mode": "human", "lockstep": False}),
]


def steps_per_second(keywords: dict[str, Any]) -> float:
    if keywords.get("render_mode") == "human":
        keywords = {"window_size": tuple(args.window), **keywords}
    env = gymnasium.make(ENV_ID, blender=args.blender, **keywords)
    try:
        observation, _ = env.reset(seed=0)
        for _ in range(20):
            observation, *_ = env.step(0)
        observation, _ = env.reset(seed=0)
        steps, start = 0, time.perf_counter()
        while time.perf_counter() - start < args.seconds:
            observation, _, terminated, truncated, _ = env.step(int(observation[2] + 0.5 * observation[3] > 0))
            steps += 1
            if terminated or truncated:
                observation, _ = env.reset()
        return steps / (time.perf_counter() - start)
    finally:
        env.close()


blender = blendgym.find_blender(args.blender, executable=True)
print(f"{blender.describe()}, window {args.window[0]}x{args.window[1]}, {args.seconds:g} s per row")
results = [(name, steps_per_second(keywords)) for name, keywords in rows]
headless = results[0][1]
print(f"| {'mode':<34} | {'steps/s':>9} | {'/ headless':>10} | {'/ 50 fps':>8} |")
print(f"|{'-' * 36}|{'-' * 11}|{'-' * 12}|{'-' * 10}|")
for name, rate in results:
    print(f"| {name:<34} | {rate:>9.1f} | {rate / headless:>10.4f} | {rate / 50:>8.2f} |")
