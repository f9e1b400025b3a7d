"""Pixel observations per second from blendgym/CartPole-v0, per rendering path, at 84×84 and 640×480, for one
env and for a pool of 2, in one run; compared with blendtorch's published figure.

Method: each measurement makes the env with ``obs_mode="pixels"`` and the given ``renderer``, width and
height, resets it, takes --warmup steps, then steps with seeded random actions (episodes autoreset) until
--seconds have passed or --steps env steps are done. Every step returns one image per env, so the rate
counts images that reached the host as numpy arrays: rendering, reading back, the wire and the physics
step included. The single env is ``gymnasium.make`` (``BlenderEnv``), the pool ``make_vec(...,
vectorization_mode="vector_entry_point")``; both with their default CPU placement.

blendtorch's README reports 0.085 s per batch of 8 images of 640×480 from 5 Blender instances on a GPU
machine, i.e. 94 images/s; the last column is each rate over that.
Prints one table; asserts nothing. Results and method are kept in docs/benchmarks.md.

    python benchmarks/bench_render.py [--renderers fast workbench quality] [--sizes 84x84 640x480] [--seconds 5]
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

import gymnasium
import numpy as np

import blendgym

ENV_ID = "blendgym/CartPole-v0"
BLENDTORCH_IMAGES_PER_SECOND = 8 / 0.085


def make(num_envs: int, renderer: str, width: int, height: int, blender: str | None) -> Any:
    keywords = {"obs_mode": "pixels", "renderer": renderer, "width": width, "height": height, "blender": blender}
    if num_envs == 1:
        return gymnasium.make(ENV_ID, **keywords)
    return gymnasium.make_vec(ENV_ID, num_envs=num_envs, vectorization_mode="vector_entry_point", **keywords)


def measure(num_envs: int, renderer: str, width: int, height: int, args: argparse.Namespace) -> tuple[float, int]:
    """Images per second, and how many images were timed."""
    env = make(num_envs, renderer, width, height, args.blender)
    rng = np.random.default_rng(args.seed)
    single = num_envs == 1
    try:
        env.reset(seed=args.seed)

        def step() -> None:
            action = int(rng.integers(0, 2)) if single else rng.integers(0, 2, num_envs)
            observation, _, terminated, truncated, _ = env.step(action)
            assert observation.shape[-3:] == (height, width, 3)
            if single and (terminated or truncated):
                env.reset()

        for _ in range(args.warmup):
            step()
        steps = 0
        start = time.perf_counter()
        while steps * num_envs < args.steps and time.perf_counter() - start < args.seconds:
            step()
            steps += 1
        elapsed = time.perf_counter() - start
    finally:
        env.close()
    return steps * num_envs / elapsed, steps * num_envs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--renderers", nargs="+", default=["fast", "workbench", "quality"])
    parser.add_argument("--sizes", nargs="+", default=["84x84", "640x480"], help="WIDTHxHEIGHT")
    parser.add_argument("--envs", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--seconds", type=float, default=5.0, help="time limit of each timed run")
    parser.add_argument("--steps", type=int, default=20000, help="image limit of each timed run")
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--blender", default=None, help="a Blender executable instead of the embedded bpy module")
    args = parser.parse_args()

    rows = []
    for renderer in args.renderers:
        for size in args.sizes:
            width, height = (int(part) for part in size.split("x"))
            for num_envs in args.envs:
                rate, count = measure(num_envs, renderer, width, height, args)
                rows.append((renderer, size, num_envs, rate, count))

    print(f"blendgym render benchmark: {blendgym.find_blender(args.blender).describe()}, obs_mode='pixels', CartPole")
    print(f"{'renderer':<10} {'size':>8} {'envs':>4} {'images/s':>9} {'ms/image':>9} {'timed':>6} {'vs blendtorch':>14}")
    for renderer, size, num_envs, rate, count in rows:
        versus = f"{rate / BLENDTORCH_IMAGES_PER_SECOND:.2f}" if size == "640x480" else "-"
        print(f"{renderer:<10} {size:>8} {num_envs:>4} {rate:>9.0f} {1000 / rate:>9.2f} {count:>6} {versus:>14}")
    print(f"blendtorch (README): 640x480, 5 instances, GPU machine: {BLENDTORCH_IMAGES_PER_SECOND:.0f} images/s")


if __name__ == "__main__":
    sys.exit(main())
