"""Asking the kernel for fast CPU wake-ups while a pool steps (Linux PM QoS, ``/dev/cpu_dma_latency``).

A pool's round trips wake a core that went idle while waiting for the others. On a VM an idle core halts,
and waking a halted virtual CPU takes tens of microseconds, several times a Blender step's transport (on a
2-core VM: raw REQ/REP to two servers at 60 µs of work each, 15.0k steps/s with halting allowed, 21k with
wake-up latency held at 0; one server on one core, 12.9k either way). Holding a latency request of 0 makes
the kernel's idle loop poll instead of halting, for as long as the file stays open: the kernel drops the
request when it is closed, including when the process dies, so nothing outlives the pool. The cores then
spin when idle, which costs power, not throughput. Needs write access to the device (root, usually);
without it the pool runs anyway, just with the slower wake-ups.
"""

from __future__ import annotations

import os
import struct
import threading

DEVICE = "/dev/cpu_dma_latency"

_lock = threading.Lock()
_holders = 0
_fd: int | None = None


def hold() -> bool:
    """Add a holder of the zero-latency request; True if the kernel has it (now or already)."""
    global _holders, _fd
    with _lock:
        if _fd is None:
            try:
                _fd = os.open(DEVICE, os.O_WRONLY | os.O_CLOEXEC)
                os.write(_fd, struct.pack("i", 0))
            except OSError:
                if _fd is not None:
                    os.close(_fd)
                _fd = None
                return False
        _holders += 1
        return True


def release() -> None:
    """Drop one holder; the last one closes the device, which ends the request."""
    global _holders, _fd
    with _lock:
        _holders -= 1
        if _holders == 0 and _fd is not None:
            os.close(_fd)
            _fd = None


def held() -> bool:
    return _fd is not None
