"""Aggregate CartPole steps/s of N envs: blendgym's pool against gymnasium's AsyncVectorEnv and SB3's
SubprocVecEnv over N single BlenderEnvs, for N = 1, 2, 4, in one run.

Method: every contender steps all N envs with the same seeded random actions, autoresetting finished
episodes (random actions end a CartPole episode after ~20 steps, so resets are part of the cost). Each
contender makes and resets its vector envs for every N, keeps them all open and steps them in turns: a
round is one pass of --steps env steps in all (--steps / N vector steps) for each N; after one warm-up
round come --repeats timed rounds, and the table shows each median aggregate rate. Taking turns makes a
drift in the machine's speed (on a VM it can reach tens of percent within minutes) fall on every N of a
contender alike, so that the ratios between N hold within one run.
Defaults of each contender are used: the pool with ``cpu_affinity="auto"`` (blendgym/affinity.py),
``AsyncVectorEnv`` and ``SubprocVecEnv`` with each worker's ``BlenderEnv`` on its own default placement
(all of them on lanes, docs/protocol.md); one more row runs the pool with every frame over ZeroMQ
(``transport="zmq"``). The ratios compare with the pool at the same N, and the pool with itself at N=1.
Prints one table; asserts nothing. Results and method are kept in docs/benchmarks.md.

    python benchmarks/bench_pool.py [--steps 10000] [--repeats 3] [--envs 1 2 4] [--blender /usr/bin/blender]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import gymnasium
import numpy as np
from stable_baselines3.common.vec_env import SubprocVecEnv

import blendgym

ENV_ID = "blendgym/CartPole-v0"


def pool(num_envs: int, blender: str | None) -> gymnasium.vector.VectorEnv[Any, Any, Any]:
    return gymnasium.make_vec(ENV_ID, num_envs=num_envs, vectorization_mode="vector_entry_point", blender=blender)


def pool_over_zeromq(num_envs: int, blender: str | None) -> gymnasium.vector.VectorEnv[Any, Any, Any]:
    return gymnasium.make_vec(ENV_ID, num_envs=num_envs, vectorization_mode="vector_entry_point", blender=blender, transport="zmq")


def async_vector(num_envs: int, blender: str | None) -> gymnasium.vector.VectorEnv[Any, Any, Any]:
    return gymnasium.make_vec(ENV_ID, num_envs=num_envs, vectorization_mode="async", blender=blender)


def subproc(num_envs: int, blender: str | None) -> SubprocVecEnv:
    return SubprocVecEnv([lambda: gymnasium.make(ENV_ID, blender=blender) for _ in range(num_envs)])


def measure(make: Callable[[int, str | None], Any], args: argparse.Namespace) -> dict[int, tuple[float, float]]:
    """For each N, the median aggregate steps/s and the seconds from making the vector env to its first batch."""
    opened: dict[int, Any] = {}
    startups: dict[int, float] = {}
    try:
        for num_envs in args.envs:
            start = time.perf_counter()
            envs = opened[num_envs] = make(num_envs, args.blender)
            if isinstance(envs, gymnasium.vector.VectorEnv):
                envs.reset(seed=args.seed)
            else:
                envs.seed(args.seed)
                envs.reset()
            startups[num_envs] = time.perf_counter() - start
        actions = {n: np.random.default_rng(args.seed).integers(0, 2, (args.steps // n, n)) for n in args.envs}
        rates: dict[int, list[float]] = {n: [] for n in args.envs}
        for repeat in range(args.repeats + 1):
            for num_envs, envs in opened.items():
                start = time.perf_counter()
                for action in actions[num_envs]:
                    envs.step(action)
                if repeat:  # the first round warms up
                    rates[num_envs].append(actions[num_envs].size / (time.perf_counter() - start))
    finally:
        for envs in opened.values():
            envs.close()
    return {n: (statistics.median(rates[n]), startups[n]) for n in args.envs}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=10000, help="env steps per timed pass, across all envs")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--envs", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--blender", default=None, help="a Blender executable instead of the embedded bpy module")
    args = parser.parse_args()

    contenders = [
        ("blendgym pool (BlenderVectorEnv)", pool),
        ("blendgym pool, transport='zmq'", pool_over_zeromq),
        ("gymnasium AsyncVectorEnv", async_vector),
        ("SB3 SubprocVecEnv", subproc),
    ]
    results = {(name, n): result for name, make in contenders for n, result in measure(make, args).items()}
    pool_name = contenders[0][0]
    base = results.get((pool_name, 1), results[(pool_name, args.envs[0])])[0]

    blender = blendgym.find_blender(args.blender)
    print(f"blendgym pool benchmark: {blender.describe()}, {args.steps} env steps x {args.repeats} passes (median)")
    print(f"{'vector env':<34} {'N':>2} {'steps/s':>8} {'vs pool':>8} {'vs pool N=1':>12} {'start s':>8}")
    for n in args.envs:
        pool_rate = results[(pool_name, n)][0]
        for name, _ in contenders:
            rate, startup = results[(name, n)]
            print(f"{name:<34} {n:>2} {rate:>8.0f} {rate / pool_rate:>8.2f} {rate / base:>12.2f} {startup:>8.2f}")
    for n in args.envs:
        if n > 1:
            pool_rate = results[(pool_name, n)][0]
            print(
                f"N={n}: pool / AsyncVectorEnv = {pool_rate / results[(contenders[2][0], n)][0]:.2f}, "
                f"pool / SubprocVecEnv = {pool_rate / results[(contenders[3][0], n)][0]:.2f}, "
                f"pool N={n} / pool N=1 = {pool_rate / base:.2f}"
            )


if __name__ == "__main__":
    sys.exit(main())
