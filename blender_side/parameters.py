"""Declared scene parameters: what reset options and ``set_attr`` may change in an env, within what bounds.

An env class lists its parameters in ``parameters`` (name -> ``Parameter``). ``reset(options=...)`` sets
them for the next episode and ``set_attr`` / ``call`` while one runs (docs/envs.md, "Parameters"); every
value is checked against its declaration first, so a bad one changes nothing. Imports no bpy, so the
checks are tested without Blender, and the declarations travel to the host in the handshake.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, ClassVar

KINDS = ("float", "int", "bool", "colour")


@dataclass(frozen=True)
class Parameter:
    """One parameter: its ``kind`` ("float", "int", "bool" or "colour": linear RGB, three floats in [0, 1]),
    its ``default``, the closed range [``low``, ``high``] of a number, and what it means (``doc``, with unit)."""

    kind: str
    default: Any
    doc: str
    low: float | None = None
    high: float | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"parameter kind {self.kind!r} is not one of {list(KINDS)}")
        if self.kind in ("float", "int") and (self.low is None or self.high is None or not self.low <= self.high):
            raise ValueError(f"a {self.kind} parameter needs low <= high, got [{self.low}, {self.high}]")
        self.check("default", self.default)

    def check(self, name: str, value: Any) -> Any:
        """``value`` as this parameter holds it; raises ValueError naming ``name``, the value and the range."""
        if self.kind == "bool":
            if not isinstance(value, bool):
                raise ValueError(f"parameter {name!r} is a bool, got {value!r}")
            return value
        if self.kind == "colour":
            if not isinstance(value, (list, tuple)) or len(value) != 3 or not all(_is_number(part) and 0.0 <= part <= 1.0 for part in value):
                raise ValueError(f"parameter {name!r} is a colour: three numbers in [0, 1] (linear RGB), got {value!r}")
            return tuple(float(part) for part in value)
        if self.kind == "int" and not (_is_number(value) and float(value).is_integer()):
            raise ValueError(f"parameter {name!r} is an int, got {value!r}")
        if not _is_number(value) or not math.isfinite(value):
            raise ValueError(f"parameter {name!r} is a finite number, got {value!r}")
        assert self.low is not None and self.high is not None
        if not self.low <= value <= self.high:
            raise ValueError(f"parameter {name!r} must lie in [{self.low:g}, {self.high:g}], got {value!r}")
        return int(value) if self.kind == "int" else float(value)

    def sample(self, random: Any) -> Any:
        """A value drawn uniformly from the declared range with numpy generator ``random``."""
        if self.kind == "bool":
            return bool(random.integers(2))
        if self.kind == "colour":
            return tuple(float(part) for part in random.uniform(0.0, 1.0, size=3))
        assert self.low is not None and self.high is not None
        if self.kind == "int":
            return int(random.integers(int(self.low), int(self.high) + 1))
        return float(random.uniform(self.low, self.high))

    def to_json(self) -> dict[str, Any]:
        default = list(self.default) if self.kind == "colour" else self.default
        return {"kind": self.kind, "default": default, "low": self.low, "high": self.high, "doc": self.doc}


def did_you_mean(unknown: list[str], known: Iterable[str]) -> str:
    """ " (did you mean 'x'?)" for the unknown names that are close to a known one, else ""."""
    known = list(known)
    guesses = [f"{name!r} → {close[0]!r}" for name in unknown if (close := difflib.get_close_matches(name, known, n=1))]
    return f" (did you mean {', '.join(guesses)}?)" if guesses else ""


def check_all(declared: dict[str, Parameter], values: dict[str, Any]) -> dict[str, Any]:
    """Every value checked against ``declared``: unknown names and bad values raise ValueError, all of them
    before anything is applied."""
    unknown = sorted(set(values) - set(declared))
    if unknown:
        raise ValueError(f"unknown parameters {unknown}{did_you_mean(unknown, declared)}; this env declares {sorted(declared)}")
    return {name: declared[name].check(name, value) for name, value in values.items()}


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


class Parameterized:
    """What envs and data generators share: declared ``parameters``, their current values in ``self.params``,
    and ``set_parameters``, which checks every value before ``apply_parameters`` puts any into the scene."""

    parameters: ClassVar[dict[str, Parameter]] = {}

    def __init__(self) -> None:
        self.params: dict[str, Any] = {name: parameter.default for name, parameter in self.parameters.items()}

    def apply_parameters(self, changed: dict[str, Any]) -> None:
        """Put the ``changed`` parameter values (already checked, and in ``self.params``) into the scene.

        Called once the object is built, with every default (by blendgym, after ``__init__``), and whenever
        values change. Does nothing by default.
        """

    def set_parameters(self, values: dict[str, Any]) -> None:
        """Check every value, then apply them all; a bad value raises ValueError and changes nothing."""
        self._apply_checked(check_all(self.parameters, values))

    def update_parameters(self, values: dict[str, Any]) -> None:
        """``set_parameters`` for the values that differ from the current ones: a data generator is given
        every value with every item, and rebuilding the scene for unchanged ones would cost each item."""
        checked = check_all(self.parameters, values)
        changed = {name: value for name, value in checked.items() if self.params.get(name) != value}
        if changed:
            self._apply_checked(changed)

    def _apply_checked(self, checked: dict[str, Any]) -> None:
        previous = {name: self.params[name] for name in checked}
        self.params.update(checked)
        try:
            self.apply_parameters(checked)
        except BaseException:
            self.params.update(previous)
            self.apply_parameters(previous)
            raise
