"""Which CPU cores blendgym's Blender processes run on. The calling thread is never touched.

A library that pinned its caller's thread would pin every thread the caller creates later too (torch's
intra-op threads, say), and those would then fight over one core: a CleanRL-style PPO script fell from 5k
to 62 steps/s that way (docs/benchmarks.md, "Training"). So only the processes blendgym starts are
placed. By default they are dealt round-robin over the cores the calling thread may use, starting with
the core after the one the thread runs on now: a single env's Blender then runs beside the trainer rather
than under it, and a pool's processes do not pile onto one core. Where the processes leave a core to
spare, each side of a lane spins briefly for the other's next frame, so that a round trip between cores
costs no kernel wake-up while the other side answers quickly (``spin_limit``).
"""

from __future__ import annotations

import os
import sys
import threading
import warnings
from typing import Literal

from blendgym_blender import lane as lanes

from .errors import BlendgymPerformanceWarning

CpuAffinity = int | Literal["auto"] | None

_warned_lock = threading.Lock()
_warned = False


def supported() -> bool:
    return hasattr(os, "sched_setaffinity") and os.path.exists("/proc/thread-self/stat")


def place(count: int, affinity: CpuAffinity | list[int]) -> list[int | None]:
    """The core of each of ``count`` Blender processes, None where the OS decides.

    "auto" deals them round-robin as described above (the OS decides where the thread may use only one
    core); a list names each process's core, and an int the core of a single process; None leaves all
    placement to the OS.
    """
    if affinity is None or not supported():
        return [None] * count
    allowed = sorted(os.sched_getaffinity(0))
    if affinity == "auto":
        if len(allowed) < 2:
            return [None] * count
        current = _current_cpu()
        first = allowed.index(current) + 1 if current in allowed else 0
        return [allowed[(first + index) % len(allowed)] for index in range(count)]
    cores = [affinity] if isinstance(affinity, int) else affinity
    if not isinstance(cores, list) or len(cores) != count or not all(isinstance(cpu, int) and cpu in allowed for cpu in cores):
        raise ValueError(
            f'cpu_affinity={affinity!r} must be "auto", None or {"a CPU" if count == 1 else f"a list of {count} CPUs"} '
            f"among those this process may use: {allowed}"
        )
    return list(cores)


def _current_cpu() -> int:
    with open("/proc/thread-self/stat") as stat:
        # Field 39 is the CPU last run on; the command name (field 2) may contain spaces, so count from ')'.
        return int(stat.read().rpartition(")")[2].split()[36])


def spin_limit(processes: int) -> float:
    """How long the two sides of a lane may spin for each other (blendgym_blender.lane.Spinner): where
    ``processes`` Blender processes leave a core to spare among those the calling thread may use, else 0.
    Where they do not, a spinning side would take a core that someone needs (docs/benchmarks.md)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return lanes.SPIN_LIMIT if processes < cores else 0.0


def warn_once_if_torch_crowds_the_cores(processes: int, env_name: str) -> None:
    """Warn once per interpreter where the caller's torch threads and ``processes`` Blender processes outnumber
    the cores. torch's thread count is only read, and only where the caller has imported torch already."""
    global _warned
    torch = sys.modules.get("torch")
    get_num_threads = getattr(torch, "get_num_threads", None)
    if get_num_threads is None or not hasattr(os, "sched_getaffinity"):
        return
    threads, cores = get_num_threads(), len(os.sched_getaffinity(0))
    if threads == 1 or threads + processes <= cores:
        return
    with _warned_lock:
        if _warned:
            return
        _warned = True
    warnings.warn(
        f"{env_name}: torch computes with {threads} threads while {processes} Blender process(es) step on these "
        f"{cores} CPU cores, so torch's threads wait for cores the Blenders hold. Small policies train faster with "
        "torch.set_num_threads(1) at the top of the training script (or OMP_NUM_THREADS=1): on 2 cores, "
        "CleanRL-style PPO ran 15-33% faster with it, and gymnasium's own CartPole-v1 no slower "
        '(README, "Speed"). blendgym does not change your threads.',
        BlendgymPerformanceWarning,
        stacklevel=3,
    )
