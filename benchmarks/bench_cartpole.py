"""CartPole steps/s in-process (no channel) against over the channel through gymnasium.make, in one run.

Method: the same random action sequence (seeded) for both; an episode resets when it terminates or reaches
500 steps; each measurement runs --steps steps after one warm-up episode and is repeated --repeats
times, and the table shows the median. "In-process" steps the Blender-side CartPole directly inside one
Blender process (the embedded bpy module, or --blender), with everything the Blender side does per step
and no socket. "Channel" is ``gymnasium.make("blendgym/CartPole-v0")`` with its default wrappers, with the
default placement (cpu_affinity="auto") and, for comparison, with placement left to the OS and with every
frame over ZeroMQ instead of the lane (transport="zmq", docs/protocol.md "Lanes").
Prints one table; asserts nothing. Results and method are kept in docs/benchmarks.md.

    python benchmarks/bench_cartpole.py [--steps 20000] [--repeats 5] [--blender /usr/bin/blender]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import gymnasium
import numpy as np

import blendgym
from blendgym.process import host_python_path, package_directory

from fresh import measurement, tight_loop

MAX_STEPS = 500

# Runs inside Blender: the same loop as run_channel, calling the Blender-side env directly.
IN_PROCESS = """
import json, sys, time
import numpy as np
from blendgym_envs.cartpole import CartPole
steps, repeats, seed = {steps}, {repeats}, {seed}
env = CartPole()
actions = np.random.default_rng(seed).integers(0, 2, steps)
rates = []
for repeat in range(repeats + 1):
    env.reset(seed, {{}})
    length = 0
    start = time.perf_counter()
    for action in actions:
        _, _, terminated, _, _ = env.step(action)
        length += 1
        if terminated or length == {max_steps}:
            env.reset(None, {{}})
            length = 0
    if repeat:  # the first pass warms up
        rates.append(steps / (time.perf_counter() - start))
print("RESULT " + json.dumps(rates))
"""


def run_in_process(blender: blendgym.Blender, steps: int, repeats: int, seed: int) -> list[float]:
    # Import blendgym's Blender-side packages the way the bootstrap does, so editable installs work too.
    bootstrap = Path(package_directory("blendgym_blender")) / "bootstrap.py"
    loader = (
        f"import runpy, sys\nsys.path.extend({host_python_path()!r})\nload_package = runpy.run_path({str(bootstrap)!r})['load_package']\n"
        + "".join(f"load_package({name!r}, {package_directory(name)!r})\n" for name in ("blendgym_blender", "blendgym_envs"))
    )
    code = loader + "import bpy\n" + IN_PROCESS.format(steps=steps, repeats=repeats, seed=seed, max_steps=MAX_STEPS)
    if blender.embedded:
        command = [blender.program, "-P", "-c", code]
    else:
        command = [blender.program, "-b", "--factory-startup", "-noaudio", "--python-exit-code", "1", "--python-expr", code]
    return measurement(command, marker="RESULT ")


def run_channel(
    blender: str | None, steps: int, repeats: int, seed: int, cpu_affinity: str | None, transport: str = "auto"
) -> tuple[list[float], float]:
    start = time.perf_counter()
    env = gymnasium.make("blendgym/CartPole-v0", blender=blender, cpu_affinity=cpu_affinity, transport=transport)
    env.reset(seed=seed)
    first_observation = time.perf_counter() - start
    actions = np.random.default_rng(seed).integers(0, 2, steps)
    rates = []
    for repeat in range(repeats + 1):
        env.reset(seed=seed)
        rate = tight_loop(env, actions)
        if repeat:  # the first pass warms up
            rates.append(rate)
    env.close()
    return rates, first_observation


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=20000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--blender", default=None, help="a Blender executable instead of the embedded bpy module")
    args = parser.parse_args()

    blender = blendgym.find_blender(args.blender)
    in_process = statistics.median(run_in_process(blender, args.steps, args.repeats, args.seed))
    pinned, startup_pinned = run_channel(args.blender, args.steps, args.repeats, args.seed, "auto")
    unpinned, startup_unpinned = run_channel(args.blender, args.steps, args.repeats, args.seed, None)
    zeromq, _ = run_channel(args.blender, args.steps, args.repeats, args.seed, "auto", "zmq")
    channel, free = statistics.median(pinned), statistics.median(unpinned)

    print(f"blendgym CartPole benchmark: {blender.describe()}, {args.steps} steps x {args.repeats} repeats (median)")
    print(f"{'measurement':<58} {'steps/s':>9} {'µs/step':>8} {'ratio':>6}")
    rows = [
        ("in-process, no channel", in_process),
        ("channel, gymnasium.make, default placement (auto)", channel),
        ("channel, gymnasium.make, placement by the OS", free),
        ("channel over ZeroMQ (transport='zmq'), default placement", statistics.median(zeromq)),
    ]
    for label, rate in rows:
        print(f"{label:<58} {rate:>9.0f} {1e6 / rate:>8.1f} {rate / in_process:>6.2f}")
    print(f"make() to first observation: {startup_pinned:.2f} s (auto), {startup_unpinned:.2f} s (OS placement)")


if __name__ == "__main__":
    sys.exit(main())
