"""Putting an env's host thread and its Blender process on one CPU core.

A request/reply round trip is several thread wake-ups (each side's ZeroMQ I/O thread and application
thread). Between cores of a VM each wake-up is expensive: on a 2-core VM, CartPole ran at ~11.5k steps/s
unplaced and ~16.5k with host thread, socket thread and Blender on one core, while pinning only Blender
made it slower (~7k). Since the host waits for every reply, sharing the core costs no parallelism.
Threads and processes inherit the affinity of the thread that creates them, so pinning the calling
thread before the socket and the process are made places all of them.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from typing import Literal, Union

CpuAffinity = Union[int, Literal["auto"], None]

_lock = threading.Lock()
# Native thread id -> (number of envs pinning it, the affinity it had before the first).
_pinned: dict[int, tuple[int, set[int]]] = {}


def supported() -> bool:
    return hasattr(os, "sched_setaffinity") and os.path.exists("/proc/thread-self/stat")


def choose_cpu(affinity: CpuAffinity) -> int | None:
    """The core to pin to, or None: "auto" picks the core the calling thread runs on, if it may use several."""
    if affinity is None or not supported():
        return None
    allowed = allowed_cpus()
    if affinity == "auto":
        if len(allowed) < 2:
            return None
        cpu = _current_cpu()
        return cpu if cpu in allowed else min(allowed)
    if affinity not in allowed:
        raise ValueError(f"cpu_affinity={affinity} is not one of the CPUs this process may use: {sorted(allowed)}")
    return affinity


@dataclass(frozen=True)
class PoolPlacement:
    """Cores for a pool, None where the OS decides: the host thread's (its ZeroMQ I/O thread, started
    while it is pinned, shares it) and each Blender process's."""

    host: int | None
    processes: list[int | None]


def spread(count: int, affinity: CpuAffinity | list[int]) -> PoolPlacement:
    """Where a pool of ``count`` Blender processes and its host thread run.

    "auto": the host thread stays on the core it runs on, with process 0, as for a single ``BlenderEnv``
    (the host waits for process 0 anyway); the other processes are dealt round-robin over the other cores,
    since a pool's processes work at the same time. A list names each process's core, the host thread
    joining the first. None leaves placement to the OS. The placements measured are in docs/benchmarks.md.
    """
    if isinstance(affinity, list):
        cpus = range(os.cpu_count() or 1)
        if len(affinity) != count or not all(cpu in cpus for cpu in affinity):
            raise ValueError(f"cpu_affinity={affinity} must name {count} CPUs, each in {cpus}")
        return PoolPlacement(affinity[0], list(affinity))
    if affinity is None or not supported():
        return PoolPlacement(None, [None] * count)
    if affinity != "auto":
        raise ValueError(f"cpu_affinity={affinity!r}: a pool takes \"auto\", None or a list of {count} CPUs")
    host = choose_cpu("auto")
    if host is None:
        return PoolPlacement(None, [None] * count)
    cores = sorted(allowed_cpus())
    first = cores.index(host)
    return PoolPlacement(host, [cores[(first + index) % len(cores)] for index in range(count)])


def allowed_cpus() -> set[int]:
    """The cores the calling thread may use, as they were before blendgym pinned it: an env or pool made while
    another is open is placed as if it were the only one."""
    with _lock:
        pinned = _pinned.get(threading.get_native_id())
    return set(pinned[1]) if pinned is not None else os.sched_getaffinity(0)


def pin_calling_thread(cpu: int) -> int:
    """Pin the calling thread to ``cpu``; returns the token to pass to ``release``."""
    thread = threading.get_native_id()
    with _lock:
        count, original = _pinned.get(thread, (0, os.sched_getaffinity(0)))
        os.sched_setaffinity(0, {cpu})
        _pinned[thread] = (count + 1, original)
    return thread


def release(thread: int) -> None:
    """Undo one ``pin_calling_thread``; the last one restores the thread's original affinity."""
    with _lock:
        count, original = _pinned.pop(thread, (0, set()))
        if count > 1:
            _pinned[thread] = (count - 1, original)
        elif count == 1:
            try:
                os.sched_setaffinity(thread, original)
            except OSError:
                pass  # The thread has ended.


def _current_cpu() -> int:
    with open("/proc/thread-self/stat") as stat:
        # Field 39 is the CPU last run on; the command name (field 2) may contain spaces, so count from ')'.
        return int(stat.read().rpartition(")")[2].split()[36])
