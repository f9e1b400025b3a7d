"""Space descriptors for Blender-side envs.

Blender's Python has neither gymnasium nor a way to install it reliably, so Blender-side envs declare
their spaces with these small classes. They mirror gymnasium's constructors, travel as JSON in the
handshake (docs/protocol.md, "Spaces and leaves") and become real gymnasium spaces on the host.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

JSON = dict[str, Any]


def _finite_or_none(values: np.ndarray) -> list[float | None]:
    return [None if math.isinf(v) else float(v) for v in values.ravel().tolist()]


def _inf_from_none(values: Sequence[float | None], sign: float) -> list[float]:
    return [sign * math.inf if v is None else float(v) for v in values]


class Space:
    """A space whose values cross the wire as raw array leaves."""

    def to_json(self) -> JSON:
        raise NotImplementedError

    def contains(self, value: Any) -> bool:
        """Whether ``value``, as the wire layout unpacks it, lies in the space: the Blender side checks every
        action, for the host's checks do not bind a peer that sends raw frames (docs/protocol.md, "Errors")."""
        raise NotImplementedError


@dataclass(frozen=True)
class Box(Space):
    low: np.ndarray
    high: np.ndarray
    dtype: np.dtype

    def __init__(self, low: Any, high: Any, shape: Sequence[int] | None = None, dtype: Any = np.float32):
        dtype = np.dtype(dtype)
        if shape is None:
            shape = np.broadcast(np.asarray(low), np.asarray(high)).shape
        object.__setattr__(self, "dtype", dtype)
        object.__setattr__(self, "low", np.broadcast_to(np.asarray(low, dtype), tuple(shape)).copy())
        object.__setattr__(self, "high", np.broadcast_to(np.asarray(high, dtype), tuple(shape)).copy())

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.low.shape)

    def contains(self, value: Any) -> bool:
        array = np.asarray(value)
        # NaN compares false, so it is outside any Box.
        return array.shape == self.shape and bool(np.all((array >= self.low) & (array <= self.high)))

    def to_json(self) -> JSON:
        return {
            "type": "Box",
            "low": _finite_or_none(self.low),
            "high": _finite_or_none(self.high),
            "shape": list(self.shape),
            "dtype": self.dtype.name,
        }


@dataclass(frozen=True)
class Discrete(Space):
    n: int
    start: int = 0

    def to_json(self) -> JSON:
        return {"type": "Discrete", "n": int(self.n), "start": int(self.start)}

    def contains(self, value: Any) -> bool:
        return self.start <= int(value) < self.start + self.n


@dataclass(frozen=True)
class MultiDiscrete(Space):
    nvec: tuple[int, ...]
    start: tuple[int, ...] | None = None

    def to_json(self) -> JSON:
        start = self.start if self.start is not None else (0,) * len(self.nvec)
        return {"type": "MultiDiscrete", "nvec": [int(n) for n in self.nvec], "start": [int(s) for s in start]}

    def contains(self, value: Any) -> bool:
        start = np.asarray(self.start if self.start is not None else (0,) * len(self.nvec))
        array = np.asarray(value)
        return array.shape == (len(self.nvec),) and bool(np.all((array >= start) & (array < start + np.asarray(self.nvec))))


@dataclass(frozen=True)
class MultiBinary(Space):
    n: int

    def to_json(self) -> JSON:
        return {"type": "MultiBinary", "n": int(self.n)}

    def contains(self, value: Any) -> bool:
        array = np.asarray(value)
        return array.shape == (self.n,) and bool(np.all((array == 0) | (array == 1)))


@dataclass(frozen=True)
class Dict(Space):
    spaces: dict[str, Space]

    def to_json(self) -> JSON:
        return {"type": "Dict", "spaces": {key: space.to_json() for key, space in self.spaces.items()}}

    def contains(self, value: Any) -> bool:
        return all(space.contains(value[key]) for key, space in self.spaces.items())


def _bound(values: Sequence[float | None], sign: float, shape: tuple[int, ...]) -> np.ndarray:
    array = np.asarray(_inf_from_none(values, sign), dtype=np.float64)
    return np.broadcast_to(array, shape).copy() if array.size == 1 else array.reshape(shape)


def box_bounds(space_json: JSON) -> tuple[np.ndarray, np.ndarray]:
    """The low and high arrays of a Box given as JSON, with ±inf restored; a one-element list applies to all."""
    shape = tuple(space_json["shape"])
    dtype = np.dtype(space_json["dtype"])
    low = _bound(space_json["low"], -1.0, shape)
    high = _bound(space_json["high"], 1.0, shape)
    if dtype.kind == "f":
        return low.astype(dtype), high.astype(dtype)
    info = np.iinfo(dtype)
    return np.clip(low, info.min, info.max).astype(dtype), np.clip(high, info.min, info.max).astype(dtype)
