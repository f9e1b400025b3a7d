"""The codec of docs/protocol.md, alone (no Blender)."""

from __future__ import annotations

import numpy as np
import pytest
from blendgym_blender import spaces, wire

DICT_SPACE = spaces.Dict(
    {
        "flag": spaces.Discrete(3),
        "image": spaces.Box(0, 255, (2, 3, 3), np.uint8),
        "state": spaces.Box(-1.0, 1.0, (3,), np.float64),
        "bits": spaces.MultiBinary(5),
        "choice": spaces.MultiDiscrete((2, 4)),
    }
)


def test_every_leaf_starts_eight_aligned_and_round_trips() -> None:
    layout = wire.Layout(DICT_SPACE.to_json())
    assert [leaf.offset % wire.ALIGNMENT for leaf in layout.leaves] == [0] * 5
    value = {
        "flag": np.int64(2),
        "image": np.arange(18, dtype=np.uint8).reshape(2, 3, 3),
        "state": np.array([0.5, -0.25, 1.0]),
        "bits": np.array([1, 0, 1, 1, 0], dtype=np.int8),
        "choice": np.array([1, 3]),
    }
    packed = wire.Layout(DICT_SPACE.to_json()).pack(value)
    assert len(packed) == layout.nbytes
    decoded = layout.unpack(b"\0" * 8 + packed, 8)
    assert decoded.keys() == value.keys()
    for key in value:
        np.testing.assert_array_equal(decoded[key], value[key])
    assert decoded["image"].flags.writeable


def test_values_unpack_as_a_batch_as_gymnasium_batches_them() -> None:
    layout = wire.Layout(DICT_SPACE.to_json())
    values = [
        {
            "flag": np.int64(seed % 3),
            "image": np.full((2, 3, 3), seed, np.uint8),
            "state": np.array([seed, -0.5, 0.25]),
            "bits": np.array([seed % 2, 1, 0, 1, 0], np.int8),
            "choice": np.array([1, seed]),
        }
        for seed in range(3)
    ]
    batch = layout.unpack_batch([layout.pack(value) for value in values])
    for key in ("flag", "image", "state", "bits", "choice"):
        np.testing.assert_array_equal(batch[key], np.stack([value[key] for value in values]))
        assert batch[key].flags.writeable
    box = wire.Layout(spaces.Box(-1, 1, (2, 2)).to_json())
    rows = np.arange(8, dtype=np.float32).reshape(2, 2, 2)
    frames = [b"\0" * 8 + box.pack(row) for row in rows]
    batch = box.unpack_batch([box.value_of(frame, 8) for frame in frames])
    np.testing.assert_array_equal(batch, rows)
    assert batch.flags.writeable and batch.dtype == np.float32
    with pytest.raises(wire.ProtocolError):
        box.value_of(frames[0], 4)


def test_single_leaf_values() -> None:
    discrete = wire.Layout(spaces.Discrete(2).to_json())
    assert discrete.unpack(wire.STEP_REQUEST_PREFIX + discrete.pack(1), 8) == 1
    box = wire.Layout(spaces.Box(-1, 1, (4,)).to_json())
    observation = np.array([0.1, 0.2, 0.3, 0.4], np.float32)
    np.testing.assert_array_equal(box.unpack(box.pack(observation), 0), observation)
    with pytest.raises(ValueError, match="shape"):
        box.pack(np.zeros(3))


def test_a_frame_of_the_wrong_length_is_a_protocol_error() -> None:
    layout = wire.Layout(spaces.Box(-1, 1, (4,)).to_json())
    with pytest.raises(wire.ProtocolError):
        layout.unpack(b"\0" * 12, 0)


@pytest.mark.parametrize("info", [{}, {"frame": 3, "name": "x", "array": np.arange(2)}])
def test_step_and_reset_replies_round_trip(info: dict) -> None:
    layout = wire.Layout(spaces.Box(-1, 1, (4,)).to_json())
    observation = np.array([1, 2, 3, 4], np.float32)
    frame = wire.encode_step_reply(layout.pack(observation), 1.5, True, False, info)
    assert frame[:1] == wire.STEP
    decoded, reward, terminated, truncated, decoded_info = wire.decode_step_reply(frame, layout)
    np.testing.assert_array_equal(decoded, observation)
    assert (reward, terminated, truncated) == (1.5, True, False)
    assert decoded_info == {key: (value.tolist() if isinstance(value, np.ndarray) else value) for key, value in info.items()}
    decoded, decoded_info = wire.decode_reset_reply(wire.encode_reset_reply(layout.pack(observation), info), layout)
    np.testing.assert_array_equal(decoded, observation)


def test_reset_options_must_be_json() -> None:
    assert wire.decode_json_body(wire.encode_reset(7, {"low": -0.1})) == {"seed": 7, "options": {"low": -0.1}}
    with pytest.raises(ValueError, match="JSON"):
        wire.encode_reset(None, {"bad": object()})


def test_error_replies_carry_kind_type_message_and_traceback() -> None:
    frame = wire.encode_error(wire.ERROR_ENV, "RuntimeError", "boom", "Traceback ...")
    assert frame[:1] == wire.ERROR
    assert wire.decode_json_body(frame) == {"kind": "env", "type": "RuntimeError", "message": "boom", "traceback": "Traceback ..."}


def test_infinite_box_bounds_survive_json() -> None:
    low, high = spaces.box_bounds(spaces.Box(-np.inf, np.inf, (2,)).to_json())
    assert np.all(np.isneginf(low)) and np.all(np.isposinf(high))


def test_a_reply_shorter_than_its_header_is_a_protocol_error() -> None:
    for split in (wire.split_step_reply, wire.split_reset_reply, wire.decode_image_reply, wire.decode_window_reply):
        with pytest.raises(wire.ProtocolError, match="shorter than its"):
            split(b"S\x00")


def test_an_item_reply_round_trips_its_labels_and_arrays() -> None:
    arrays = {
        "rgb": np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3),
        "depth": np.array([[1.5, np.inf, 2.0]], dtype=np.float32),
        "segmentation": np.array([[0, 1, 65535]], dtype=np.uint16),
    }
    labels = {"index": 4, "objects": [{"id": 1, "box": [0, 0, 2, 1]}]}
    frame = wire.encode_item_reply(labels, arrays)
    decoded_labels, decoded = wire.decode_item_reply(frame)
    assert decoded_labels == labels and list(decoded) == list(arrays)
    for name, array in arrays.items():
        np.testing.assert_array_equal(decoded[name], array)
        assert decoded[name].dtype == array.dtype and decoded[name].flags.writeable
    start = wire.ITEM_REPLY.size + int.from_bytes(frame[4:8], "little")
    assert frame[wire.aligned(start) : wire.aligned(start) + 18] == arrays["rgb"].tobytes()


def test_object_arrays_fold_into_each_objects_labels() -> None:
    poses = np.arange(2 * 4 * 4, dtype=np.float64).reshape(2, 4, 4)
    labels = {"objects": [{"id": 1}, {"id": 2, "center": "the generator's own"}]}
    arrays = {"rgb": np.zeros((1, 1, 3), np.uint8), "objects.pose": poses, "objects.center": np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])}
    decoded_labels, decoded = wire.decode_item_reply(wire.encode_item_reply(labels, arrays))
    assert list(decoded) == ["rgb"]
    assert decoded_labels["objects"][0] == {"id": 1, "pose": poses[0].tolist(), "center": [1.0, 2.0, 3.0]}
    assert decoded_labels["objects"][1] == {"id": 2, "center": "the generator's own", "pose": poses[1].tolist()}
    assert wire.decode_item_reply(wire.encode_item_reply({"objects": []}, {"objects.pose": np.zeros((0, 4, 4))}))[0] == {"objects": []}
    for broken in ({"objects": [{"id": 1}]}, {"objects": "none"}, {}):
        with pytest.raises(wire.ProtocolError, match="objects.pose"):
            wire.decode_item_reply(wire.encode_item_reply(broken, {"objects.pose": poses}))


def test_malformed_item_frames_are_protocol_errors() -> None:
    frame = wire.encode_item_reply({"index": 0}, {"depth": np.zeros((2, 2), np.float32)})
    for broken in (frame[:-1], frame + b"\0" * 8, frame[:6]):
        with pytest.raises(wire.ProtocolError):
            wire.decode_item_reply(broken)
    with pytest.raises(ValueError, match="dtype"):
        wire.encode_item_reply({}, {"mask": np.zeros(2, dtype=bool)})
    assert wire.decode_item_request(wire.encode_item_request(3, 7, {"size": 1.0}, 5)) == (3, 7, {"size": 1.0}, 5)
    assert wire.decode_item_request(b'G{"index": 3, "seed": 7}') == (3, 7, {}, None)
    for body in (
        b'G{"index": -1, "seed": 0}',
        b'G{"index": 1.5, "seed": 0}',
        b'G{"index": 1, "seed": 0, "parameters": []}',
        b'G{"index": 1, "seed": 0, "next": -2}',
        b"G[]",
    ):
        with pytest.raises(wire.ProtocolError):
            wire.decode_item_request(body)
