"""Labelled renders from Blender, streamed into PyTorch: ``BlenderDataset`` (docs/data.md).

A pool of Blender processes (pool.py) serves a Blender-side ``Generator``; the dataset asks them for items
by index, at most ``max_in_flight`` at a time, and yields them in index order. Item *i* is a pure function
of the dataset's seed, *i* and the parameter values it was asked with, so the same seed gives the same items
whatever the number of processes or DataLoader workers, and an item whose Blender died or hung is simply
asked for again from a fresh process. Nothing crosses the wire but JSON and raw arrays (docs/protocol.md,
"Items").
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import tempfile
import time
import weakref
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from blendgym_blender import wire
from blendgym_blender.view import OUTPUTS, ViewSettings
from torch.utils.data import IterableDataset, get_worker_info

from . import affinity
from .blender import find_blender
from .env import resolve_blend_file, resolve_env_class
from .errors import BlenderDataError, BlenderEnvError, BlendgymError
from .pool import BlenderPool, Failure, FaultPolicy
from .process import LaunchSpec, TransportChoice, uses_lane
from .recording import ShardWriter

# The generators blendgym ships: name -> (class, keyword arguments).
GENERATORS: dict[str, tuple[str, dict[str, Any]]] = {
    "blendgym/Shapes-v0": ("blendgym_envs.shapes:Shapes", {}),
}


@dataclass(frozen=True)
class StreamSettings:
    """How a ``BlenderDataset`` runs its Blender processes.

    ``blender``: which Blender (``find_blender``); ``blend_file``: a scene file opened before the generator is
    built; ``timeout``: seconds one item may take before its process counts as hung, is killed and restarted
    (the item is asked for again); ``max_restarts``: restarts allowed to one process within any
    ``restart_window`` seconds. ``cpu_affinity``: placement of the processes, as for the envs (blendgym never
    moves the calling thread). ``transport``: "auto" (shared-memory lanes on one machine), "lane" or "zmq",
    as for the envs.
    """

    blender: str | None = None
    blend_file: str | None = None
    startup_timeout: float = 60.0
    timeout: float = 60.0
    max_restarts: int = 3
    restart_window: float = 60.0
    cpu_affinity: affinity.CpuAffinity | list[int] = "auto"
    transport: TransportChoice = "auto"
    generator_kwargs: dict[str, Any] = field(default_factory=dict)


class ParameterBoard:
    """The parameter values that the next items are made with, shared by the dataset and its DataLoader
    workers through a small JSON file in a private directory (workers may be forked or spawned). It is read
    for every item asked for, and parsed again only when a write has replaced it (a new file each time)."""

    def __init__(self, values: dict[str, Any]) -> None:
        self.directory = directory = tempfile.mkdtemp(prefix="blendgym-data-")
        self.path = os.path.join(directory, "parameters.json")
        self._read_from: tuple[int, int, int] | None = None  # the file read last: inode, mtime, size
        self._values: dict[str, Any] = {}
        self.write(values)
        self._finalizer = weakref.finalize(self, _remove_in_creator, directory, os.getpid())

    def write(self, values: dict[str, Any]) -> None:
        """Replace the values, atomically: a reader sees the old file or the new one."""
        try:
            text = json.dumps(values, allow_nan=False)
        except (TypeError, ValueError) as error:
            raise ValueError(f"parameter values must be JSON (no NaN or Infinity): {error}") from None
        partial = self.path + ".partial"
        with open(partial, "w") as file:
            file.write(text)
        os.replace(partial, self.path)

    def read(self) -> dict[str, Any]:
        """The current values (do not change the dict: it is kept until the next write)."""
        with open(self.path) as file:
            stat = os.fstat(file.fileno())
            version = (stat.st_ino, stat.st_mtime_ns, stat.st_size)
            if version != self._read_from:
                self._values, self._read_from = json.load(file), version
        return self._values


def _remove_in_creator(directory: str, creator: int) -> None:
    """Remove ``directory`` in the process that made it only: DataLoader workers inherit the board too."""
    if os.getpid() == creator:
        shutil.rmtree(directory, ignore_errors=True)


class BlenderDataset(IterableDataset):  # type: ignore[type-arg]
    """Items made by ``num_processes`` Blender processes running ``generator``, for a ``DataLoader``.

    Args:
        generator: a registered name (``blendgym/Shapes-v0``) or the Blender-side ``Generator`` class as
            ``module:Class`` or ``path/file.py:Class``.
        num_items: items per epoch (each index once); None streams without end.
        seed: item *i* is made with ``numpy.random.default_rng([seed, i])`` in Blender.
        num_processes: Blender processes in all; with DataLoader workers, worker *w* runs processes
            *w*, *w* + workers, ... (at least one) and makes items *w*, *w* + workers, ...
        outputs: arrays in each item besides its labels: ``rgb``, ``depth``, ``segmentation``, ``boxes``
            (boxes and visibility go into the objects' labels).
        width, height, renderer: image size and renderer (``fast``, ``workbench``, ``quality``, ``cycles``).
        parameters: initial values of the generator's declared parameters; ``set_parameters`` changes them.
        max_in_flight: items asked for (or planned: each process makes its next item while the host handles
            its last) and not yet yielded, per worker (default: 3 per process: one asked for, one planned, one done): memory stays bounded, and a
            parameter change reaches every item asked for after it.
        record: a directory to write every yielded item to, as tar shards of ``shard_items`` items
            (recording.py; replay with ``RecordedDataset``).
        progress: show a progress bar per worker (tqdm: items, items/s, items in flight, restarts).
        settings: how the processes run (``StreamSettings``).
    """

    def __init__(
        self,
        generator: str,
        *,
        num_items: int | None,
        seed: int = 0,
        num_processes: int = 1,
        outputs: Iterable[str] = ("rgb", "boxes"),
        width: int = 640,
        height: int = 480,
        renderer: str = "fast",
        parameters: dict[str, Any] | None = None,
        max_in_flight: int | None = None,
        record: str | os.PathLike[str] | None = None,
        shard_items: int = 1000,
        progress: bool = False,
        settings: StreamSettings | None = None,
    ) -> None:
        super().__init__()
        if num_items is not None and (not isinstance(num_items, int) or num_items < 0):
            raise ValueError(f"num_items must be a non-negative int or None, got {num_items!r}")
        if not isinstance(seed, int) or seed < 0:
            raise ValueError(f"seed must be a non-negative int, got {seed!r}")
        if not isinstance(num_processes, int) or num_processes < 1:
            raise ValueError(f"num_processes must be at least 1, got {num_processes!r}")
        if max_in_flight is not None and max_in_flight < 1:
            raise ValueError(f"max_in_flight must be at least 1, got {max_in_flight!r}")
        self.name, self.generator_class, kwargs = _resolve(generator)
        self.settings = settings or StreamSettings()
        self.generator_kwargs = {**kwargs, **self.settings.generator_kwargs}
        self.view = ViewSettings.from_options(renderer=renderer, width=width, height=height, outputs=tuple(outputs))
        if self.view.renderer == "eevee":
            raise ValueError("renderer='eevee' takes seconds per image without a GPU; use 'fast', 'workbench', 'quality' or 'cycles'")
        self.num_items = num_items
        self.seed = seed
        self.num_processes = num_processes
        self.max_in_flight = max_in_flight
        self.record = None if record is None else Path(record)
        self.shard_items = shard_items
        self.progress = progress
        self.blend_file = resolve_blend_file(self.settings.blend_file, self.name)
        self.board = ParameterBoard(dict(parameters or {}))

    def set_parameters(self, values: dict[str, Any]) -> None:
        """Make items asked for from now on with these parameter values (merged into the current ones).

        Up to ``max_in_flight`` items already asked for, per worker, still carry the old values; every item
        says which values made it (``item["parameters"]``). Blender checks the values against the
        generator's declarations: a bad one fails the next item with a ``BlenderDataError`` naming it."""
        self.board.write({**self.board.read(), **values})

    @property
    def parameters(self) -> dict[str, Any]:
        """The values that items asked for now are made with (beyond them, the generator's defaults)."""
        return dict(self.board.read())

    def __len__(self) -> int:
        if self.num_items is None:
            raise TypeError(f"{self.name}: an endless BlenderDataset (num_items=None) has no length")
        return self.num_items

    def __iter__(self) -> Iterator[dict[str, Any]]:
        worker = get_worker_info()
        worker_id, workers = (worker.id, worker.num_workers) if worker is not None else (0, 1)
        indices: Iterable[int] = itertools.count(worker_id, workers) if self.num_items is None else range(worker_id, self.num_items, workers)
        processes = max(1, len(range(worker_id, self.num_processes, workers)))
        return ItemStream(self, indices, processes, worker_id, len(indices) if isinstance(indices, range) else None)


class ItemStream(Iterator[dict[str, Any]]):
    """One worker's items of a ``BlenderDataset`` epoch, in index order, from its own pool of processes.

    ``items``, ``items_per_second``, ``in_flight`` and ``restarts`` say how streaming goes.
    """

    def __init__(self, dataset: BlenderDataset, indices: Iterable[int], processes: int, worker_id: int, total: int | None = None) -> None:
        self._finished = True  # until the pool is up: __del__ after a failed start has nothing to end
        self.dataset = dataset
        self.todo = iter(indices)
        self.limit = dataset.max_in_flight or 3 * processes
        self.name = f"{dataset.name} (worker {worker_id})" if get_worker_info() is not None else dataset.name
        settings = dataset.settings
        spec = LaunchSpec(
            find_blender(settings.blender),
            dataset.generator_class,
            dataset.generator_kwargs,
            self.name,
            dataset.view,
            dataset.blend_file,
            settings.startup_timeout,
            lane=uses_lane(settings.transport, dataset.view),
            serves="generator",
        )
        self.pool = BlenderPool(
            spec,
            processes,
            seeds=[None] * processes,
            placement=affinity.place(processes, settings.cpu_affinity),
            faults=FaultPolicy(settings.timeout, settings.max_restarts, settings.restart_window),
        )
        self.writer = ShardWriter(dataset.record, f"{worker_id:03d}", dataset.shard_items) if dataset.record is not None else None
        self.bar = _progress_bar(self.name, total) if dataset.progress else None
        self.taken: deque[int] = deque()  # indices asked for or planned and not yet yielded, in order
        self.planned: dict[int, int] = {}  # process -> the index it makes next, in advance
        self.working: dict[int, tuple[int, bytes]] = {}  # process -> (index, its request)
        self.done: dict[int, dict[str, Any]] = {}
        self.idle = list(range(processes))
        self.items = 0
        self.restarts = 0
        self.started = time.monotonic()
        self._finished = False

    @property
    def in_flight(self) -> int:
        return len(self.taken)

    @property
    def items_per_second(self) -> float:
        return self.items / max(time.monotonic() - self.started, 1e-9)

    def __next__(self) -> dict[str, Any]:
        if self._finished:
            raise StopIteration
        try:
            self._ask()
            if not self.taken:
                self.close()
                raise StopIteration
            while self.taken[0] not in self.done:
                self._collect()
                self._ask()
            item = self.done.pop(self.taken.popleft())
            if self.writer is not None:
                self.writer.add(item)
            self.items += 1
            if self.bar is not None:
                self.bar.set_postfix(in_flight=self.in_flight, restarts=self.restarts, refresh=False)
                self.bar.update()
            return item
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        """End this worker's processes and finish its last recording shard; idempotent."""
        if self._finished:
            return
        self._finished = True
        self.pool.close()
        if self.writer is not None:
            self.writer.close()
        if self.bar is not None:
            self.bar.close()

    def __del__(self) -> None:
        self.close()

    def _ask(self) -> None:
        """Ask each idle process for its planned item, or the next one, while fewer than the limit are taken;
        each request also plans the process's following item, which Blender makes while the host is busy."""
        for process in list(self.idle):
            index = self.planned.pop(process, None)
            if index is None:
                index = self._take()
                if index is None:
                    continue  # another idle process may have an item planned
            following = self._take()
            if following is not None:
                self.planned[process] = following
            request = wire.encode_item_request(index, self.dataset.seed, self.dataset.board.read(), following)
            self.idle.remove(process)
            self.working[process] = (index, request)
            self.pool.send(process, request, f"item {index}")

    def _take(self) -> int | None:
        """The next index of this worker's share, unless the limit of items taken is reached or none is left."""
        if len(self.taken) >= self.limit:
            return None
        index = next(self.todo, None)
        if index is not None:
            self.taken.append(index)
        return index

    def _collect(self) -> None:
        for process, reply in self.pool.collect(list(self.working), 1):
            index, request = self.working[process]
            if isinstance(reply, Failure):
                # The process was replaced; the item is made again, identically, by the fresh one.
                self.restarts += 1
                self.pool.send(process, request, f"item {index}")
                continue
            del self.working[process]
            self.idle.append(process)
            if isinstance(reply, BlendgymError):
                raise self._failed(index, request, reply) from None
            labels, arrays = wire.decode_item_reply(reply)
            self.done[index] = {**labels, **arrays}

    def _failed(self, index: int, request: bytes, error: BlendgymError) -> BlenderDataError:
        _, seed, values, _ = wire.decode_item_request(request)
        what = f"{self.name}: making item {index} (seed {seed}, parameters {values}) failed in Blender"
        if not isinstance(error, BlenderEnvError):
            return BlenderDataError(f"{what}: {error}")
        # A traceback's last line is the exception: "Type: message".
        message = error.remote_traceback.strip().splitlines()[-1] if error.remote_traceback.strip() else error.remote_type
        return BlenderDataError(
            f"{what} with {message}. The stream stops here: fix the generator (or the parameter value) and iterate again."
            f"\n\nBlender traceback:\n{error.remote_traceback}",
            error.remote_type,
            error.remote_traceback,
        )


def _progress_bar(name: str, total: int | None) -> Any:
    try:
        from tqdm import tqdm
    except ImportError:
        raise ImportError("progress=True shows a tqdm progress bar: pip install tqdm (the data extra brings it)") from None
    return tqdm(total=total, desc=name, unit="item")


def collate(items: list[dict[str, Any]]) -> dict[str, Any]:
    """A batch of items for ``DataLoader(collate_fn=...)``: arrays stacked into tensors, every other field
    (index, seed, parameters, camera, objects, labels) a list with one entry per item."""
    batch: dict[str, Any] = {}
    for key in items[0]:
        values = [item[key] for item in items]
        batch[key] = torch.from_numpy(np.stack(values)) if isinstance(values[0], np.ndarray) else values
    return batch


def register_generator(name: str, generator_class: str, **kwargs: Any) -> None:
    """Make ``BlenderDataset(name, ...)`` build ``generator_class`` (``module:Class`` or ``file.py:Class``,
    resolved now) with ``kwargs``."""
    GENERATORS[name] = (resolve_env_class(generator_class), kwargs)


def _resolve(generator: str) -> tuple[str, str, dict[str, Any]]:
    """The dataset's name, the generator class and its keyword arguments."""
    if generator in GENERATORS:
        generator_class, kwargs = GENERATORS[generator]
        return generator, generator_class, dict(kwargs)
    if ":" not in generator:
        raise ValueError(f"generator {generator!r} is neither registered ({sorted(GENERATORS)}) nor of the form module:Class or file.py:Class")
    return generator, resolve_env_class(generator), {}


__all__ = ["OUTPUTS", "BlenderDataset", "ItemStream", "StreamSettings", "collate", "register_generator"]
