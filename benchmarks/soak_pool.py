"""Soak: a long run of pool steps with a Blender killed at regular intervals, and what it leaves behind.

Method: a pool of --envs blendgym/CartPole-v0 processes steps random actions --steps times (vector steps ×
envs); every --kill-every env steps, one Blender (in turn) is killed with SIGKILL and the pool restarts it.
The table gives the host's resident memory (RSS) at the start and the end, each Blender's RSS after its first
1,000 steps and when it was killed (or at the end), and the host's open file descriptors and /dev/shm entries
before the pool was made and after it was closed. Prints one table; asserts nothing (the CI-sized check is
tests/test_vector.py's 40-restart test). Results are kept in docs/reliability.md.

    python benchmarks/soak_pool.py [--steps 1000000] [--kill-every 100000] [--envs 2]
"""

from __future__ import annotations

import argparse
import os
import signal
import time

import numpy as np

from blendgym import BlenderVectorEnv

# A Blender's RSS is taken as its start once it has served this many steps (its start-up allocations done).
WARM_UP = 1000


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def descriptors() -> int:
    return len(os.listdir("/proc/self/fd"))


def memory_entries() -> int:
    return len(os.listdir("/dev/shm")) if os.path.isdir("/dev/shm") else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=1_000_000, help="env steps in all")
    parser.add_argument("--kill-every", type=int, default=100_000, help="env steps between kills")
    parser.add_argument("--envs", type=int, default=2)
    args = parser.parse_args()

    fds_before, shm_before = descriptors(), memory_entries()
    envs = BlenderVectorEnv("blendgym_envs.cartpole:CartPole", args.envs, max_restarts=1000)
    rng = np.random.default_rng(0)
    lives: list[tuple[int, float, float]] = []  # (pid, RSS after its first WARM_UP steps, RSS at its end)
    try:
        envs.reset(seed=0)
        host_start = rss_mb(os.getpid())
        served: dict[int, int] = {}
        first_seen: dict[int, float] = {}
        started, done, victim_slot = time.perf_counter(), 0, 0
        next_kill = args.kill_every
        while done < args.steps:
            envs.step(rng.integers(0, 2, args.envs))
            done += args.envs
            for pid in envs.pids:
                served[pid] = served.get(pid, 0) + 1
                if served[pid] == WARM_UP:
                    first_seen[pid] = rss_mb(pid)
            if done >= next_kill and done < args.steps:
                victim = envs.pids[victim_slot]
                lives.append((victim, first_seen.get(victim, float("nan")), rss_mb(victim)))
                os.kill(victim, signal.SIGKILL)
                victim_slot, next_kill = (victim_slot + 1) % args.envs, next_kill + args.kill_every
        seconds = time.perf_counter() - started
        lives += [(pid, first_seen.get(pid, float("nan")), rss_mb(pid)) for pid in envs.pids]
        host_end = rss_mb(os.getpid())
    finally:
        envs.close()
    fds_after, shm_after = descriptors(), memory_entries()

    growth = [end - start for _, start, end in lives if start == start]  # NaN: too short-lived to measure
    print(
        f"Soak: {done:,} env steps in {seconds:.0f} s ({done / seconds:,.0f}/s), {args.envs} processes, "
        f"a Blender killed every {args.kill_every:,} steps"
    )
    print(f"{'what':<44} {'start':>10} {'end':>10} {'growth':>10}")
    print(f"{'host RSS, MB':<44} {host_start:>10.1f} {host_end:>10.1f} {host_end - host_start:>10.1f}")
    for pid, start, end in lives:
        print(f"{f'Blender pid {pid} RSS, MB':<44} {start:>10.1f} {end:>10.1f} {end - start:>10.1f}")
    print(f"{'largest Blender RSS growth, MB':<44} {'':>10} {'':>10} {max(growth):>10.1f}")
    print(f"{'host open file descriptors':<44} {fds_before:>10} {fds_after:>10} {fds_after - fds_before:>10}")
    print(f"{'/dev/shm entries':<44} {shm_before:>10} {shm_after:>10} {shm_after - shm_before:>10}")


if __name__ == "__main__":
    main()
