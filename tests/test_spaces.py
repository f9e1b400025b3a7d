"""Host-side spaces and action checks, alone (no Blender): a bad action never reaches Blender."""

from __future__ import annotations

import numpy as np
import pytest
from blendgym_blender import spaces, wire
from gymnasium import spaces as gym_spaces

from blendgym.spaces import ActionEncoder, to_gymnasium


def test_spaces_become_the_same_gymnasium_spaces() -> None:
    assert to_gymnasium(spaces.Discrete(3, start=1).to_json()) == gym_spaces.Discrete(3, start=1)
    assert to_gymnasium(spaces.Box(-1, 2, (3,), np.float32).to_json()) == gym_spaces.Box(-1, 2, (3,), np.float32)
    assert to_gymnasium(spaces.MultiDiscrete((2, 3)).to_json()) == gym_spaces.MultiDiscrete([2, 3])
    assert to_gymnasium(spaces.MultiBinary(4).to_json()) == gym_spaces.MultiBinary(4)
    nested = to_gymnasium(spaces.Dict({"a": spaces.Discrete(2), "b": spaces.Box(0, 255, (2, 2), np.uint8)}).to_json())
    assert isinstance(nested, gym_spaces.Dict) and list(nested.spaces) == ["a", "b"]


@pytest.mark.parametrize("action", [0, 1, np.int64(1), np.int32(0), np.array(1), np.uint8(1)])
def test_discrete_accepts_integers(action: object) -> None:
    frame = ActionEncoder(spaces.Discrete(2).to_json()).encode(action)
    assert frame == wire.STEP_REQUEST_PREFIX + int(action).to_bytes(8, "little")  # type: ignore[call-overload]


@pytest.mark.parametrize("action", [2, -1, 1.0, np.float32(1), True, np.bool_(True), "1", None, [1], np.array([1]), float("nan")])
def test_discrete_rejects_everything_else(action: object) -> None:
    with pytest.raises(ValueError):
        ActionEncoder(spaces.Discrete(2).to_json()).encode(action)


def test_box_checks_shape_dtype_nan_and_bounds() -> None:
    encoder = ActionEncoder(spaces.Box(-1.0, 1.0, (2,), np.float32).to_json())
    assert len(encoder.encode(np.array([0.5, -0.5]))) == 8 + 8
    assert len(encoder.encode([0, 1])) == 16
    for bad, reason in [
        (np.zeros(3), "shape"),
        (np.array([np.nan, 0.0]), "NaN"),
        (np.array([np.inf, 0.0]), "NaN or infinity"),
        (np.array([1.5, 0.0]), "outside"),
        (np.array(["a", "b"]), "numbers"),
        (np.array([True, False]), "numbers"),
    ]:
        with pytest.raises(ValueError, match=reason):
            encoder.encode(bad)


def test_multi_discrete_and_multi_binary_and_dict() -> None:
    assert len(ActionEncoder(spaces.MultiDiscrete((2, 3)).to_json()).encode([1, 2])) == 8 + 16
    with pytest.raises(ValueError, match="outside"):
        ActionEncoder(spaces.MultiDiscrete((2, 3)).to_json()).encode([1, 3])
    with pytest.raises(ValueError, match="integers"):
        ActionEncoder(spaces.MultiBinary(2).to_json()).encode([0.0, 1.0])
    with pytest.raises(ValueError, match="outside"):
        ActionEncoder(spaces.MultiBinary(2).to_json()).encode([0, 2])
    encoder = ActionEncoder(spaces.Dict({"a": spaces.Discrete(2), "b": spaces.Box(-1, 1, (1,))}).to_json())
    assert len(encoder.encode({"a": 1, "b": [0.5]})) == 8 + 8 + 4
    with pytest.raises(ValueError, match="keys"):
        encoder.encode({"a": 1})
