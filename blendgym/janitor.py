"""The janitor: a small process that ends a host's Blender processes, and removes their private directories,
when the host dies, even by SIGKILL and whatever Blender is doing (docs/reliability.md, "No orphans").

A Blender checks between requests that its host lives, which cannot end one in the middle of a ten-second
step, and a process killed with SIGKILL cleans nothing up. So each host process starts one janitor, lazily,
with its first live Blender, and tells it through a pipe which Blender pids and directories are live. The
janitor does nothing until the pipe's last write end closes, which the kernel does when the host exits for
any reason; it then kills every Blender still listed (after checking, in /proc, that the pid still runs a
command line naming its private directory, so that a reused pid is never killed) and removes the
directories. A host that closes its envs tells the janitor to forget them, and lets it go once none is left: a
host without Blender processes holds no janitor.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading

# Runs with the host's Python, without site packages (-S): it needs only the standard library.
SCRIPT = r"""
import os, shutil, signal, sys
watched = {}
for line in sys.stdin:
    verb, pid, directory = line.rstrip("\n").split(" ", 2)
    if verb == "+":
        watched[int(pid)] = directory
    else:
        watched.pop(int(pid), None)
for pid, directory in watched.items():
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as command:
            ours = directory.encode() in command.read()
    except OSError:
        ours = False
    if ours:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    shutil.rmtree(directory, ignore_errors=True)
"""

_lock = threading.Lock()
_janitor: subprocess.Popen[bytes] | None = None
_owner = 0  # the pid of the process that started _janitor: a forked child starts its own
_watched: set[int] = set()


def watch(pid: int, directory: str) -> None:
    """Have the janitor end Blender ``pid`` and remove ``directory`` if this process dies first."""
    global _janitor, _owner, _watched
    with _lock:
        if _janitor is None or _owner != os.getpid():
            if _janitor is not None and _janitor.stdin is not None:
                # A forked child: its copy of the parent's pipe would keep the parent's janitor waiting.
                _janitor.stdin.close()
            _janitor = subprocess.Popen(
                [sys.executable, "-S", "-c", SCRIPT],
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,  # Ctrl-C in a terminal must not reach it before the host has cleaned up
            )
            _owner, _watched = os.getpid(), set()
        _watched.add(pid)
        _write(f"+ {pid} {directory}\n")


def forget(pid: int) -> None:
    """Blender ``pid`` has been ended (its directory removed) by the host itself. With no Blender left, the
    janitor is let go (it exits with nothing to do), so a host without envs holds no pipe and no process."""
    global _janitor
    with _lock:
        if _janitor is None or _owner != os.getpid() or pid not in _watched:
            return
        _watched.discard(pid)
        _write(f"- {pid} -\n")
        if not _watched:
            assert _janitor.stdin is not None
            _janitor.stdin.close()
            _janitor = None


def _write(line: str) -> None:
    assert _janitor is not None and _janitor.stdin is not None
    # One write of a short line: atomic on a pipe, whatever other threads write.
    os.write(_janitor.stdin.fileno(), line.encode())
