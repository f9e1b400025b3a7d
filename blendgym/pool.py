"""``BlenderPool``: N Blender processes serving copies of one env, driven from one host thread.

The pool is the engine under the vector envs (EnvPool's split): it launches, addresses, watches and
restarts processes and moves frames; it knows nothing of episodes. ``send`` never waits; ``collect``
waits for replies, and turns a death or a timeout into a ``Failure`` after restarting the process, so that
the front decides what the lost request means for its episode (docs/protocol.md, "Pools").
"""

from __future__ import annotations

import dataclasses
import time
from collections import deque
from dataclasses import dataclass

import zmq
from blendgym_blender.lane import Doorbell
from blendgym_blender.view import ViewSettings

from . import affinity
from .blender import Blender
from .channel import ERROR_OPCODE, POLL_MS, START_UP
from .errors import (
    BlenderProcessDied,
    BlenderProtocolError,
    BlenderRestartLimitError,
    BlenderStartError,
    BlenderTimeoutError,
    BlendgymError,
)
from .process import BlenderProcess, LaunchSpec


@dataclass(frozen=True)
class Failure:
    """Why a request got no reply: its process died or hung, and has been replaced by a fresh one."""

    reason: str
    error: BlendgymError


@dataclass(frozen=True)
class FaultPolicy:
    """How a pool meets a process that dies or hangs: ``timeout`` seconds for a reply (None: no limit), after
    which the process is killed; each process is restarted at most ``max_restarts`` times within any
    ``restart_window`` seconds, and one more failure raises ``BlenderRestartLimitError``."""

    timeout: float | None
    max_restarts: int = 3
    restart_window: float = 60.0


@dataclass(frozen=True)
class LiveMember:
    """The pool's process ``index`` shows its env in Blender's window (docs/live.md)."""

    index: int
    blender: Blender
    view: ViewSettings
    timeout: float | None


# What a request got: its reply frame, the typed error of an E reply, or a Failure.
Reply = bytes | Failure | BlendgymError


class BlenderPool:
    """``num_envs`` Blender processes, each started as ``spec`` says; process ``i`` is called ``spec.name[i]``.

    Args:
        seeds: the start-up seed of each process (``None`` entries for fresh entropy).
        placement: the core of each process (None: the OS decides); the calling thread is left as it is.
        faults: the reply timeout and the restart limit (``FaultPolicy``).
        live: the one process that runs ``live.blender`` with a window (``live.view.human``) and
            ``live.timeout``, unpinned and without a lane; the others run as ``spec`` says with
            ``faults.timeout``. With ``spec.lane``, the headless processes share one doorbell.
    """

    def __init__(
        self,
        spec: LaunchSpec,
        num_envs: int,
        *,
        seeds: list[int | None],
        placement: list[int | None],
        faults: FaultPolicy,
        live: LiveMember | None = None,
    ) -> None:
        if num_envs < 1:
            raise ValueError(f"{spec.name}: num_envs must be at least 1, got {num_envs}")
        self.spec = spec
        self.num_envs = num_envs
        self.name = spec.name
        self.live = live
        self.cpus = [None if live is not None and index == live.index else cpu for index, cpu in enumerate(placement)]
        self.faults = faults
        self.context: zmq.Context[zmq.Socket[bytes]] = zmq.Context(io_threads=1)
        self.doorbell = Doorbell() if spec.lane else None
        self.spin_limit = affinity.spin_limit(num_envs)
        self.processes: list[BlenderProcess] = []
        self._queued: list[tuple[bytes, str] | None] = [None] * num_envs
        self._restarts: list[deque[float]] = [deque() for _ in range(num_envs)]
        self._closed = False
        try:
            # Launch every process before waiting for any, so that they start in parallel.
            for index in range(num_envs):
                self.processes.append(self._launch(index, seeds[index]))
            for process in self.processes:
                process.finish_start(spec.startup_timeout)
        except BaseException:
            self.close()
            raise
        self.hello = self.processes[0].hello
        for process in self.processes[1:]:
            self._check_spaces(process)

    def env_name(self, index: int) -> str:
        return f"{self.name}[{index}]"

    def send(self, index: int, frame: bytes, what: str) -> None:
        """Send a request to process ``index`` without waiting; a restarting process gets it after its handshake."""
        if self._closed:
            raise BlendgymError(f"{self.name}: the pool is closed; make a new vector env")
        process = self.processes[index]
        if process.pending == START_UP:
            self._queued[index] = (frame, what)
        else:
            process.send(frame, what)

    def collect(self, indices: list[int], count: int | None = None) -> list[tuple[int, Reply]]:
        """Wait for replies from ``count`` of the processes ``indices`` (all of them by default), which must
        each have a request outstanding; returns ``(index, reply)`` pairs in the order the replies came (in
        index order when waiting for all).

        A reply is the frame, the typed error of an ``E`` reply, or a ``Failure`` when the process died or
        missed its timeout (it has been restarted; the request is lost). Replies beyond ``count`` stay queued
        for the next call. Raises ``BlenderRestartLimitError`` when a process fails too often.
        """
        if count is None or count >= len(indices):
            wanted = set(indices)
            return [(index, self._wait(index)) for index in sorted(wanted)]
        return self._wait_any(indices, count)

    def outstanding(self) -> list[int]:
        """The processes with a request whose reply has not been collected (say, after Ctrl-C in ``collect``)."""
        return [
            index
            for index, process in enumerate(self.processes)
            if process.pending is not None and (process.pending != START_UP or self._queued[index] is not None)
        ]

    def close(self) -> None:
        """End every process (see ``BlenderProcess.close``) and the pool's ZeroMQ context; idempotent."""
        if self._closed:
            return
        self._closed = True
        for process in self.processes:
            process.ask_to_close()
        for process in self.processes:
            process.close()
        self.context.term()
        if self.doorbell is not None:
            self.doorbell.close()

    # Waiting --------------------------------------------------------------------------------------------

    def _wait(self, index: int) -> Reply:
        """Block until process ``index`` answers its request (through a restart's handshake if need be)."""
        while True:
            reply = self.processes[index].poll_reply(POLL_MS / 1000)
            if reply is None:
                failure = self._check(index)
                if failure is not None:
                    return failure
                continue
            result = self._take(index, reply)
            if result is not None:
                return result

    def _wait_any(self, indices: list[int], count: int) -> list[tuple[int, Reply]]:
        results: list[tuple[int, Reply]] = []
        waiting = list(indices)
        last_check = time.monotonic()
        while len(results) < count:
            ready = self._replied(waiting)
            for index in ready:
                if len(results) == count:
                    break
                result = self._take(index, self.processes[index].transport.take())
                if result is not None:
                    results.append((index, result))
                    waiting.remove(index)
            # Keep watching the silent ones even while others answer quickly.
            if time.monotonic() - last_check >= POLL_MS / 1000 or not ready:
                last_check = time.monotonic()
                for index in list(waiting):
                    if len(results) == count:
                        break
                    failure = self._check(index)
                    if failure is not None:
                        results.append((index, failure))
                        waiting.remove(index)
        return results

    def _replied(self, waiting: list[int]) -> list[int]:
        """Those of ``waiting`` whose reply has come, after sleeping up to POLL_MS for the first if none has."""
        rung = self.doorbell.value() if self.doorbell is not None else 0
        ready = [index for index in waiting if self.processes[index].transport.replied()]
        if ready:
            return ready
        sockets = [socket for index in waiting if (socket := self.processes[index].transport.pollable) is not None]
        if not sockets:
            assert self.doorbell is not None
            self.doorbell.wait(rung, POLL_MS / 1000)
        else:
            # ZeroMQ cannot wake on a lane's doorbell: with lanes waiting too, look at them every millisecond.
            poller = zmq.Poller()
            for socket in sockets:
                poller.register(socket, zmq.POLLIN)
            poller.poll(1 if len(sockets) < len(waiting) else POLL_MS)
        return [index for index in waiting if self.processes[index].transport.replied()]

    def _take(self, index: int, reply: bytes) -> Reply | None:
        """Account for a reply: None if it was a restarted process's handshake (its queued request is now sent)."""
        process = self.processes[index]
        what = process.pending or "request"
        process.pending = None
        if reply[0] == ERROR_OPCODE:
            error = process.error_from_reply(reply, what)
            if what == START_UP:
                return self._restart(index, error)
            return error
        if what != START_UP:
            return reply
        process.take_hello(reply)
        self._check_spaces(process)
        queued, self._queued[index] = self._queued[index], None
        if queued is None:
            return None
        process.send(*queued)
        return None

    def _check(self, index: int) -> Failure | None:
        """A Failure if process ``index`` has died or its request is overdue (after restarting it), else None."""
        process = self.processes[index]
        live = self._live_member(index)
        timeout = self.spec.startup_timeout if process.pending == START_UP else self.faults.timeout if live is None else live.timeout
        try:
            process.check(timeout)
        except (BlenderProcessDied, BlenderTimeoutError) as error:
            return self._restart(index, error)
        return None

    # Restarting -----------------------------------------------------------------------------------------

    def _restart(self, index: int, error: BlendgymError) -> Failure:
        """Replace process ``index`` with a fresh one whose handshake is under way; the request is lost."""
        old = self.processes[index]
        reason = _reason(old, error)
        old.kill()
        old.close()
        times = self._restarts[index]
        now = time.monotonic()
        while times and now - times[0] > self.faults.restart_window:
            times.popleft()
        self._queued[index] = None
        if len(times) >= self.faults.max_restarts:
            self.close()
            raise BlenderRestartLimitError(
                f"{self.env_name(index)}: the Blender process failed {len(times) + 1} times within {self.faults.restart_window:g} s "
                f"(max_restarts={self.faults.max_restarts}); giving up. Last failure: {reason}\n\n{error}"
            )
        times.append(now)
        self.processes[index] = self._launch(index, None)
        return Failure(reason, error)

    def _live_member(self, index: int) -> LiveMember | None:
        return self.live if self.live is not None and index == self.live.index else None

    def _launch(self, index: int, seed: int | None) -> BlenderProcess:
        live = self._live_member(index)
        spec = self.spec if live is None else dataclasses.replace(self.spec, blender=live.blender, view=live.view, lane=False)
        return BlenderProcess(
            spec,
            name=self.env_name(index),
            seed=seed,
            instance=index,
            cpu=self.cpus[index],
            context=self.context,
            doorbell=self.doorbell,
            spin_limit=self.spin_limit,
            wait=False,
        )

    def _check_spaces(self, process: BlenderProcess) -> None:
        for key in ("observation_space", "action_space"):
            if process.hello.get(key) != self.hello.get(key):
                raise BlenderProtocolError(f"{process.name}: declares a different {key.replace('_', ' ')} than {self.processes[0].name}")


def _reason(process: BlenderProcess, error: BlendgymError) -> str:
    what = process.pending or "a request"
    if isinstance(error, BlenderTimeoutError):
        return f"no reply to {what} within the timeout; the process was killed and restarted"
    if isinstance(error, BlenderStartError):
        return f"the restarted process failed to start: {str(error).splitlines()[0]}"
    code = process.process.returncode
    how = f"killed by signal {-code}" if code is not None and code < 0 else f"exited with code {code}"
    return f"the Blender process {how} during {what}; it was restarted"
