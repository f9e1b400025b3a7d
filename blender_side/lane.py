"""Lanes: shared memory that carries a launched Blender's frames after the handshake (docs/protocol.md, "Lanes").

Over ZeroMQ every message passes through an I/O thread in each process, so one round trip wakes four
threads; between the cores of a VM a wake-up costs tens of microseconds, which kept a pool of two
processes from using two cores (docs/benchmarks.md). A lane is an anonymous memory file that both
processes map. The host writes a request and a fresh ticket; Blender writes the reply and rings the
host's doorbell with the same ticket. Each side waits by spinning for a while, as long as a ``Spinner``
says it pays, and then in the kernel on a futex, so neither ever polls a socket on the hot path.

Lanes rely on x86-64 keeping stores in program order (a frame is written before its ticket) and on an
aligned 32-bit load or store being indivisible, so they exist on Linux x86-64 only; elsewhere, and for
windowed or attached Blenders, every frame goes over ZeroMQ.
This module needs only the standard library: both sides import it.
"""

from __future__ import annotations

import ctypes
import errno
import mmap
import os
import platform
import struct
import sys
import time

HEADER = mmap.PAGESIZE
INITIAL_CAPACITY = 1 << 16
# Byte offsets of the header's 32-bit words, each on a cache line of its own; the doorbell's word is at 0.
# TAG holds a random number that the host also puts on Blender's command line, so that Blender knows it
# mapped the memory file the host meant.
REQUEST_TICKET, REPLY_TICKET, REQUEST_LENGTH, REPLY_LENGTH, TAG = 0, 64, 128, 192, 256
WORD_SIZE = 4
TAG_WORD = struct.Struct("<Q")

_SYS_FUTEX = 202  # x86-64
_FUTEX_WAIT, _FUTEX_WAKE = 0, 1  # Shared between processes: not FUTEX_PRIVATE_FLAG.
# How a futex wait ends normally: the word no longer held the value, the time ran out, a signal came.
_WAIT_ENDINGS = frozenset({errno.EAGAIN, errno.ETIMEDOUT, errno.EINTR})

# A side spins for the other's next frame at most this long, and only while its recent waits were this short.
# Where the processes leave no core to spare, nobody spins (spin limit 0): docs/benchmarks.md measured a
# pool of two on two cores at 19.4k steps/s without spinning and 14.6k with it.
SPIN_LIMIT = 200e-6
# The shortest spin while spinning pays, so that a run of waits that found the frame there keeps spinning.
SPIN_FLOOR = 20e-6
RECENT_WAITS = 8


class _Timespec(ctypes.Structure):
    _fields_ = [("seconds", ctypes.c_long), ("nanoseconds", ctypes.c_long)]


def supported() -> bool:
    """Whether this machine can run lanes: Linux on x86-64, with memfd_create."""
    return sys.platform == "linux" and platform.machine() == "x86_64" and hasattr(os, "memfd_create")


_syscall = ctypes.CDLL(None, use_errno=True).syscall if supported() else None


def _futex_wait(address: int, value: int, timeout: float) -> None:
    """Sleep while the word at ``address`` holds ``value``, at most ``timeout`` seconds (or until woken).
    Raises OSError where the kernel refuses: a wait that failed silently would make every wait a busy spin."""
    seconds = int(timeout)
    limit = _Timespec(seconds, int((timeout - seconds) * 1e9))
    if _syscall(_SYS_FUTEX, ctypes.c_void_p(address), _FUTEX_WAIT, ctypes.c_uint(value), ctypes.byref(limit), None, 0) == -1:  # type: ignore[misc]
        code = ctypes.get_errno()
        if code not in _WAIT_ENDINGS:
            raise OSError(code, f"futex wait on a lane failed: {os.strerror(code)}")


def _futex_wake(address: int) -> None:
    if _syscall(_SYS_FUTEX, ctypes.c_void_p(address), _FUTEX_WAKE, 1, None, None, 0) == -1:  # type: ignore[misc]
        code = ctypes.get_errno()
        raise OSError(code, f"futex wake on a lane failed: {os.strerror(code)}")


class Spinner:
    """How long one side spins for the other's next frame before it sleeps in the kernel (docs/protocol.md,
    "Waiting").

    Spinning saves waking a sleeping process, tens of microseconds between the cores of a VM, but holds a
    core while it lasts. So a side spins for about twice the median of its last waits, and not at all while
    that median is over ``limit``: while the other side is busy (a trainer's policy update, a render) it
    sleeps at once, and it spins again once the other side answers quickly again. ``limit`` 0 never spins.
    """

    def __init__(self, limit: float) -> None:
        self.limit = limit
        self.waits = [limit / 2] * RECENT_WAITS
        self.next = 0

    def budget(self) -> float:
        """How long to spin for the next frame."""
        median = sorted(self.waits)[RECENT_WAITS // 2]
        return 0.0 if median > self.limit else min(self.limit, max(2 * median, SPIN_FLOOR))

    def record(self, waited: float) -> None:
        """The time from the start of a wait until the frame was there."""
        self.waits[self.next] = waited
        self.next = (self.next + 1) % RECENT_WAITS


class _Shared:
    """A memory file's first page, mapped, with the address of its first byte for futex calls.

    ``fd`` None makes a new file of ``size`` bytes with a new tag; otherwise ``tag`` is the tag it must hold.
    """

    def __init__(self, name: str, fd: int | None, size: int, tag: int | None) -> None:
        self.fd = os.memfd_create(name) if fd is None else fd
        if fd is None:
            os.ftruncate(self.fd, size)
        self.header = mmap.mmap(self.fd, HEADER)
        # The ctypes view is dropped at once, so that the map can be closed later.
        self.address = ctypes.addressof(ctypes.c_char.from_buffer(self.header))
        # The words, read and written whole: a memoryview item is one 32-bit load or store, where struct
        # moves a byte at a time, so that a reader could see a ticket half written (tests/test_lane.py).
        self.words = memoryview(self.header).cast("I")
        if fd is None:
            self.tag = int.from_bytes(os.urandom(TAG_WORD.size), "little")
            TAG_WORD.pack_into(self.header, TAG, self.tag)
        else:
            self.tag = TAG_WORD.unpack_from(self.header, TAG)[0]
            if self.tag != tag:
                _Shared.close(self)
                raise ValueError(f"descriptor {fd} is not the {name} the host made (tag {self.tag:#x}, expected {tag:#x})")

    def word(self, offset: int) -> int:
        return self.words[offset // WORD_SIZE]

    def set_word(self, offset: int, value: int) -> None:
        self.words[offset // WORD_SIZE] = value

    def close(self) -> None:
        """Unmap and close; idempotent."""
        if not self.header.closed:
            self.words.release()
            self.header.close()
            os.close(self.fd)


class Doorbell(_Shared):
    """The word the host sleeps on while it waits for replies; every Blender sharing it writes the ticket of
    the reply it has just written and wakes the host. A pool's processes share one doorbell."""

    def __init__(self, fd: int | None = None, tag: int | None = None) -> None:
        super().__init__("blendgym-doorbell", fd, HEADER, tag)
        self.tickets = 0

    def next_ticket(self) -> int:
        """A ticket no earlier request through this doorbell had (0 is never one: fresh words hold it)."""
        self.tickets = self.tickets % 0xFFFFFFFF + 1
        return self.tickets

    def value(self) -> int:
        return self.word(0)

    def wait(self, value: int, timeout: float) -> None:
        """Sleep until someone rings, unless the doorbell no longer holds ``value``; at most ``timeout`` s."""
        _futex_wait(self.address, value, timeout)

    def ring(self, ticket: int) -> None:
        self.set_word(0, ticket)
        _futex_wake(self.address)


class Lane(_Shared):
    """One channel's lane: a header page of tickets and lengths, then a data area that holds the request and,
    once Blender has read it, the reply. The writer of a frame that does not fit grows the file.

    The host makes it with ``Lane(doorbell)``; Blender opens the inherited descriptors of ``describe()`` with
    ``Lane.open(description)``.
    """

    def __init__(self, doorbell: Doorbell, fd: int | None = None, tag: int | None = None) -> None:
        super().__init__("blendgym-lane", fd, HEADER + INITIAL_CAPACITY, tag)
        self.doorbell = doorbell
        self.data = self._map_data()
        self.request_ticket = 0  # a fresh file holds 0, never a ticket

    def _map_data(self) -> mmap.mmap:
        return mmap.mmap(self.fd, os.fstat(self.fd).st_size - HEADER, offset=HEADER)

    def _write(self, frame: bytes | bytearray, length_offset: int) -> None:
        if len(frame) > len(self.data):
            # Sized from the file, not this side's map: the other side may have grown it since, and a file
            # cut shorter under its map would crash it on its next access.
            capacity = os.fstat(self.fd).st_size - HEADER
            if len(frame) > capacity:
                os.ftruncate(self.fd, HEADER + max(len(frame), 2 * capacity))
            self.data.close()
            self.data = self._map_data()
        self.data[: len(frame)] = frame
        self.set_word(length_offset, len(frame))

    def _read(self, length_offset: int) -> bytearray:
        """A copy of the frame: a bytearray, so that arrays read from it are writable without another copy."""
        length = self.word(length_offset)
        if length > len(self.data):
            self.data.close()
            self.data = self._map_data()
        with memoryview(self.data) as whole, whole[:length] as part:
            return bytearray(part)  # one copy; bytearray(length) would zero it first

    def describe(self) -> str:
        """What Blender's command line carries: both descriptors (inherited) and both tags."""
        return f"{self.fd}:{self.tag:x},{self.doorbell.fd}:{self.doorbell.tag:x}"

    @classmethod
    def open(cls, description: str) -> Lane:
        """Map the lane and doorbell of a ``describe()`` string; ValueError if a descriptor is not what it says."""
        (lane_fd, lane_tag), (doorbell_fd, doorbell_tag) = (
            (int(fd), int(tag, 16)) for fd, tag in (part.split(":") for part in description.split(","))
        )
        doorbell = Doorbell(doorbell_fd, doorbell_tag)
        try:
            return cls(doorbell, lane_fd, lane_tag)
        except BaseException:
            doorbell.close()
            raise

    # The host's end --------------------------------------------------------------------------------------

    def put_request(self, frame: bytes) -> None:
        """Write a request under a fresh ticket and wake Blender."""
        self._write(frame, REQUEST_LENGTH)
        self.request_ticket = self.doorbell.next_ticket()
        self.set_word(REQUEST_TICKET, self.request_ticket)
        _futex_wake(self.address + REQUEST_TICKET)

    def replied(self) -> bool:
        return self.word(REPLY_TICKET) == self.request_ticket

    def wait_reply(self, spin: float, timeout: float) -> bool:
        """Whether the reply to the latest request came within ``timeout`` seconds; spins for the first
        ``spin`` seconds of them, then sleeps on this lane's reply ticket (not the shared doorbell, which
        other processes' replies would ring)."""
        return self._wait_word(REPLY_TICKET, self.request_ticket, True, spin, timeout)

    def _wait_word(self, offset: int, value: int, until_equal: bool, spin: float, timeout: float) -> bool:
        """Whether the header word at ``offset`` came to equal ``value`` (or, if not ``until_equal``, to
        differ from it) within ``timeout`` s, spinning for the first ``spin`` s. The spin yields the core at
        every turn, so that a thread that needs it (the trainer's, another Blender's) gets it at once."""
        words, index = self.words, offset // WORD_SIZE
        if (words[index] == value) == until_equal:
            return True
        now = time.perf_counter()
        spin_until, deadline = now + spin, now + timeout
        while now < spin_until:
            if (words[index] == value) == until_equal:
                return True
            os.sched_yield()
            now = time.perf_counter()
        address = self.address + offset
        while now < deadline:
            current = words[index]
            if (current == value) == until_equal:
                return True
            _futex_wait(address, current, deadline - now)
            now = time.perf_counter()
        return (words[index] == value) == until_equal

    def take_reply(self) -> bytearray:
        return self._read(REPLY_LENGTH)

    # Blender's end ---------------------------------------------------------------------------------------

    def wait_request(self, spin: float, timeout: float) -> bool:
        """Whether a new request came within ``timeout`` seconds; spins for the first ``spin`` seconds."""
        return self._wait_word(REQUEST_TICKET, self.request_ticket, False, spin, timeout)

    def take_request(self) -> bytes:
        self.request_ticket = self.word(REQUEST_TICKET)
        return bytes(self._read(REQUEST_LENGTH))  # requests are small; error messages quote them as bytes

    def put_reply(self, frame: bytes | bytearray) -> None:
        """Write the reply to the request taken last, wake the host if it waits for this lane, and ring the
        doorbell with the ticket for a host that waits for any lane."""
        self._write(frame, REPLY_LENGTH)
        self.set_word(REPLY_TICKET, self.request_ticket)
        _futex_wake(self.address + REPLY_TICKET)
        self.doorbell.ring(self.request_ticket)

    def close(self) -> None:
        self.data.close()
        super().close()
