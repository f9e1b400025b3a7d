"""Gymnasium spaces from the handshake's JSON, and checking and packing actions before they are sent."""

from __future__ import annotations

import operator
import struct
from collections.abc import Callable
from typing import Any

import numpy as np
from blendgym_blender import wire
from blendgym_blender.spaces import box_bounds
from gymnasium import spaces


def to_gymnasium(space: dict[str, Any]) -> spaces.Space[Any]:
    kind = space["type"]
    if kind == "Box":
        low, high = box_bounds(space)
        return spaces.Box(low, high, tuple(space["shape"]), np.dtype(space["dtype"]))
    if kind == "Discrete":
        return spaces.Discrete(space["n"], start=space["start"])
    if kind == "MultiDiscrete":
        return spaces.MultiDiscrete(space["nvec"], start=space["start"])
    if kind == "MultiBinary":
        return spaces.MultiBinary(space["n"])
    if kind == "Dict":
        return spaces.Dict({key: to_gymnasium(sub) for key, sub in space["spaces"].items()})
    raise wire.ProtocolError(f"unsupported space type {kind!r}")


Check = Callable[[Any], Any]


class ActionEncoder:
    """Turns an action into a step request, or raises ValueError saying why it is not in the space.

    Nothing that fails here reaches Blender: wrong type, dtype or shape, NaN, or a value out of bounds.
    """

    def __init__(self, space: dict[str, Any]) -> None:
        self.layout = wire.Layout(space)
        self.check = _checker(space)
        self.is_discrete = space["type"] == "Discrete"
        self.int64 = struct.Struct("<q")

    def encode(self, action: Any) -> bytes:
        value = self.check(action)
        if self.is_discrete:
            return wire.STEP_REQUEST_PREFIX + self.int64.pack(value)
        return wire.STEP_REQUEST_PREFIX + self.layout.pack(value)


def _checker(space: dict[str, Any]) -> Check:
    kind = space["type"]
    if kind == "Discrete":
        return _discrete_checker(space["start"], space["start"] + space["n"])
    if kind == "Box":
        low, high = box_bounds(space)
        return _array_checker(tuple(space["shape"]), np.dtype(space["dtype"]), low, high)
    if kind == "MultiDiscrete":
        start = np.asarray(space["start"], dtype=np.int64)
        return _array_checker((len(space["nvec"]),), np.dtype(np.int64), start, start + np.asarray(space["nvec"]) - 1)
    if kind == "MultiBinary":
        return _array_checker((space["n"],), np.dtype(np.int8), np.zeros(space["n"]), np.ones(space["n"]))
    if kind == "Dict":
        checks = {key: _checker(sub) for key, sub in space["spaces"].items()}

        def check_dict(action: Any) -> dict[str, Any]:
            if not isinstance(action, dict) or set(action) != set(checks):
                raise ValueError(f"action must be a dict with keys {sorted(checks)}, got {_describe(action)}")
            return {key: check(action[key]) for key, check in checks.items()}

        return check_dict
    raise wire.ProtocolError(f"unsupported space type {kind!r}")


def _discrete_checker(start: int, stop: int) -> Check:
    def check_discrete(action: Any) -> int:
        # operator.index takes Python and numpy integers and 0-d integer arrays, and nothing else but bools.
        try:
            if isinstance(action, (bool, np.bool_)):
                raise TypeError
            value = operator.index(action)
        except TypeError:
            raise ValueError(f"action must be an integer in [{start}, {stop}), got {_describe(action)}") from None
        if not start <= value < stop:
            raise ValueError(f"action {value} is outside the action space [{start}, {stop})")
        return value

    return check_discrete


def _array_checker(shape: tuple[int, ...], dtype: np.dtype, low: np.ndarray, high: np.ndarray) -> Check:
    float_space = dtype.kind == "f"
    accepted_kinds = "fiu" if float_space else "iub"
    values = "numbers" if float_space else "integers"

    def check_array(action: Any) -> np.ndarray:
        array = np.asarray(action)
        if array.dtype.kind not in accepted_kinds:
            raise ValueError(f"action must be an array of {values} of shape {shape} ({dtype}), got {_describe(action)}")
        if array.shape != shape:
            raise ValueError(f"action has shape {array.shape}, the action space needs {shape}")
        if float_space and array.dtype.kind == "f" and not np.all(np.isfinite(array)):
            raise ValueError(f"action contains NaN or infinity: {array}")
        if np.any(array < low) or np.any(array > high):
            raise ValueError(f"action {array} is outside the action space bounds [{low}, {high}]")
        return array

    return check_array


def _describe(value: Any) -> str:
    dtype = getattr(value, "dtype", None)
    return f"{type(value).__name__}{f' of dtype {dtype}' if dtype is not None else ''}: {value!r}"
