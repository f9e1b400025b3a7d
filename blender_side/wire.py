"""The blendgym wire protocol, version 10: docs/protocol.md in code.

Both sides import this module: the host as ``blendgym_blender.wire``, Blender through the bootstrap.
It needs only numpy and the standard library, so it runs in any Blender's Python.
"""

from __future__ import annotations

import json
import os
import struct
from dataclasses import dataclass
from typing import Any

import numpy as np

PROTOCOL_VERSION = 10
# Where a server started inside a running Blender listens unless told otherwise (docs/live.md, "Attach").
DEFAULT_ATTACH_ADDRESS = "tcp://127.0.0.1:5710"

HELLO = b"H"
RESET = b"R"
STEP = b"S"
CLOSE = b"C"
ATTRIBUTE = b"A"
IMAGE = b"I"
WINDOW = b"W"
ITEM = b"G"
ERROR = b"E"

# Error kinds, see "Errors" in docs/protocol.md.
ERROR_ENV = "env"
ERROR_STATE = "state"
ERROR_PROTOCOL = "protocol"
ERROR_ATTRIBUTE = "attribute"
ERROR_START = "start"

ALIGNMENT = 8
STEP_REQUEST_PREFIX = STEP + bytes(ALIGNMENT - 1)
STEP_REPLY = struct.Struct("<cBBxId")  # opcode, terminated, truncated, info length, reward
RESET_REPLY = struct.Struct("<cxxxI")  # opcode, info length
IMAGE_REPLY = struct.Struct("<cxxxIII")  # opcode, height, width, channels
WINDOW_REPLY = struct.Struct("<cxxxI")  # opcode, description length
ITEM_REPLY = struct.Struct("<cxxxI")  # opcode, description length
# The dtypes an item's arrays may have (docs/protocol.md, "Items"); anything else is a protocol error.
ITEM_DTYPES = ("uint8", "uint16", "int32", "float32", "float64")
# Item arrays named so hold a row for each object of the item's labels (docs/protocol.md, "Items").
OBJECT_ARRAY_PREFIX = "objects."


class ProtocolError(Exception):
    """A frame that does not follow docs/protocol.md."""


def aligned(offset: int) -> int:
    return -(-offset // ALIGNMENT) * ALIGNMENT


@dataclass(frozen=True)
class Leaf:
    """One raw array of a space's value on the wire."""

    path: tuple[str, ...]
    dtype: np.dtype
    shape: tuple[int, ...]
    offset: int
    count: int  # elements, stored because unpacking needs it on every step

    @property
    def nbytes(self) -> int:
        return self.count * self.dtype.itemsize

    def read(self, frame: bytes | memoryview, start: int) -> Any:
        """This leaf of the value whose leaves begin at ``start``: a fresh array, or a numpy scalar for shape ()."""
        array = np.frombuffer(frame, self.dtype, self.count, start + self.offset)
        if not self.shape:
            return array[0]
        return (array if len(self.shape) == 1 else array.reshape(self.shape)).copy()


def _leaves(space: dict[str, Any], path: tuple[str, ...]) -> list[tuple[tuple[str, ...], np.dtype, tuple[int, ...]]]:
    kind = space["type"]
    if kind == "Box":
        return [(path, np.dtype(space["dtype"]).newbyteorder("<"), tuple(space["shape"]))]
    if kind == "Discrete":
        return [(path, np.dtype("<i8"), ())]
    if kind == "MultiDiscrete":
        return [(path, np.dtype("<i8"), (len(space["nvec"]),))]
    if kind == "MultiBinary":
        return [(path, np.dtype("i1"), (int(space["n"]),))]
    if kind == "Dict":
        return [leaf for key, sub in space["spaces"].items() for leaf in _leaves(sub, path + (key,))]
    raise ProtocolError(f"unsupported space type {kind!r}")


class Layout:
    """Where each leaf of a space's value lies in a frame, and how to pack and unpack values."""

    def __init__(self, space: dict[str, Any]):
        self.is_dict = space["type"] == "Dict"
        leaves = []
        offset = 0
        for path, dtype, shape in _leaves(space, ()):
            offset = aligned(offset)
            leaf = Leaf(path, dtype, shape, offset, int(np.prod(shape, dtype=np.int64)))
            leaves.append(leaf)
            offset += leaf.nbytes
        self.leaves: tuple[Leaf, ...] = tuple(leaves)
        self.nbytes = offset
        # Most spaces are one leaf (a Box, a Discrete); they skip the general loops on the hot path.
        self.single = leaves[0] if len(leaves) == 1 and not self.is_dict else None

    def pack(self, value: Any) -> bytes:
        """The value's leaves as bytes, padded as the protocol says. Raises ValueError on a shape mismatch."""
        leaf = self.single
        if leaf is not None:
            array = np.asarray(value, dtype=leaf.dtype)
            if array.shape != leaf.shape:
                raise ValueError(f"value has shape {array.shape}, the space says {leaf.shape}")
            return array.tobytes()
        out = bytearray(self.nbytes)
        for leaf in self.leaves:
            item = value
            for key in leaf.path:
                item = item[key]
            array = np.asarray(item, dtype=leaf.dtype)
            if array.shape != leaf.shape:
                where = "/".join(leaf.path) or "value"
                raise ValueError(f"{where} has shape {array.shape}, the space says {leaf.shape}")
            out[leaf.offset : leaf.offset + leaf.nbytes] = array.tobytes()
        return bytes(out)

    def unpack(self, frame: bytes | memoryview, start: int) -> Any:
        """The value whose leaves begin at ``start`` in ``frame``, as fresh writable numpy arrays."""
        self._check_length(frame, start)
        leaf = self.single
        if leaf is not None:
            return leaf.read(frame, start)
        return self._nest([leaf.read(frame, start) for leaf in self.leaves])

    def value_of(self, frame: bytes, start: int) -> memoryview:
        """The packed value whose leaves begin at ``start`` in ``frame`` (no copy), checked for its length."""
        self._check_length(frame, start)
        return memoryview(frame)[start:]

    def unpack_batch(self, values: list[bytes | memoryview]) -> Any:
        """Values as ``pack`` makes them (``nbytes`` each), as one batch: a fresh writable array per leaf with
        a leading batch axis (nested dicts of them for a Dict space), as gymnasium batches a space's values.
        One join per leaf, whatever the batch size: numpy calls, not bytes, are what small batches cost."""
        count = len(values)
        leaf = self.single
        if leaf is not None:
            return np.frombuffer(bytearray().join(values), leaf.dtype).reshape(count, *leaf.shape)
        batches = []
        for leaf in self.leaves:
            joined = bytearray().join(memoryview(value)[leaf.offset : leaf.offset + leaf.nbytes] for value in values)
            batches.append(np.frombuffer(joined, leaf.dtype).reshape(count, *leaf.shape))
        return self._nest(batches)

    def _check_length(self, frame: bytes | memoryview, start: int) -> None:
        if len(frame) != start + self.nbytes:
            raise ProtocolError(f"frame holds {len(frame) - start} value bytes, the space needs {self.nbytes}")

    def _nest(self, arrays: list[Any]) -> dict[str, Any]:
        """The Dict space's value (nested dicts by each leaf's path) of one array per leaf, in ``leaves`` order."""
        result: dict[str, Any] = {}
        for leaf, array in zip(self.leaves, arrays, strict=True):
            target = result
            for key in leaf.path[:-1]:
                target = target.setdefault(key, {})
            target[leaf.path[-1]] = array
        return result


def _json(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":"), default=_to_builtin).encode()


def _to_builtin(obj: Any) -> Any:
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, np.generic):
        return obj.item()
    raise TypeError(f"{type(obj).__name__} is not JSON serialisable")


def _request_json(obj: Any) -> bytes:
    """A request's JSON: strict, as Blender reads it (no NaN or Infinity); ValueError otherwise."""
    return json.dumps(obj, separators=(",", ":"), default=_to_builtin, allow_nan=False).encode()


def _load_json(data: bytes | memoryview) -> Any:
    """A reply's JSON, as Python writes it: an env's info may hold NaN."""
    try:
        return json.loads(bytes(data))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ProtocolError(f"bad JSON: {exc}") from None


def _no_constant(name: str) -> Any:
    raise ProtocolError(f"bad JSON: {name} is not a JSON value")


def decode_request_body(frame: bytes) -> Any:
    """A request's JSON body. JSON has no NaN or Infinity: Python's parser would take them, and a NaN would
    reach an env's attribute or a generator's parameter, so a request that holds one is a protocol error."""
    try:
        return json.loads(bytes(memoryview(frame)[1:]), parse_constant=_no_constant)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ProtocolError(f"bad JSON: {exc}") from None


# Requests ---------------------------------------------------------------------------------------------


def encode_hello(host_pid: int, host: str) -> bytes:
    """The handshake request; ``host_pid`` and ``host`` (the machine's name) let an attached Blender see the host die."""
    return HELLO + _request_json({"protocol": PROTOCOL_VERSION, "host_pid": host_pid, "host": host})


def attach_secret_path(address: str) -> str:
    """Where an attached Blender serving ``address`` keeps its secret for hosts of the same user on the same
    machine: a file only that user can read, under ``$XDG_RUNTIME_DIR`` or ``~/.cache``."""
    base = os.environ.get("XDG_RUNTIME_DIR") or os.path.join(os.path.expanduser("~"), ".cache")
    name = "".join(character if character.isalnum() else "_" for character in address)
    return os.path.join(base, "blendgym", f"attach-{name}.secret")


def encode_reset(seed: int | None, options: dict[str, Any] | None) -> bytes:
    """Raises ValueError when options cannot travel as JSON."""
    try:
        return RESET + _request_json({"seed": seed, "options": options})
    except (TypeError, ValueError) as exc:
        raise ValueError(f"reset options must be JSON serialisable, without NaN or Infinity: {exc}") from None


def encode_attribute(request: dict[str, Any]) -> bytes:
    """An ``A`` request: ``{"get": name}``, ``{"set": name, "value": v}`` or ``{"call": name, "args": [...], "kwargs": {...}}``.

    Raises ValueError when the request cannot travel as JSON.
    """
    try:
        return ATTRIBUTE + _request_json(request)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"attribute values and arguments must be JSON serialisable, without NaN or Infinity: {exc}") from None


def encode_item_request(index: int, seed: int, parameters: dict[str, Any], following: int | None = None) -> bytes:
    """A ``G`` request: make item ``index`` of the stream seeded ``seed`` with these parameter values, and
    then, before the next request comes, item ``following`` with the same values (docs/protocol.md, "Items")."""
    return ITEM + _request_json({"index": index, "seed": seed, "parameters": parameters, "next": following})


def decode_item_request(frame: bytes) -> tuple[int, int, dict[str, Any], int | None]:
    request = decode_request_body(frame)
    if not isinstance(request, dict):
        raise ProtocolError("an item request is a JSON object")
    index, seed, parameters, following = request.get("index"), request.get("seed"), request.get("parameters", {}), request.get("next")
    if (
        type(index) is not int
        or type(seed) is not int
        or index < 0
        or seed < 0
        or not isinstance(parameters, dict)
        or not (following is None or (type(following) is int and following >= 0))
    ):
        raise ProtocolError(
            "an item request is a JSON object with a non-negative integer index and seed, an object of parameters, and a next index or null"
        )
    return index, seed, parameters, following


def decode_json_body(frame: bytes) -> Any:
    return _load_json(memoryview(frame)[1:])


# Replies ----------------------------------------------------------------------------------------------


def encode_hello_reply(info: dict[str, Any]) -> bytes:
    return HELLO + _json({"protocol": PROTOCOL_VERSION, **info})


def _with_info(header: bytes, info_json: bytes, observation: bytes) -> bytes:
    padding = bytes(aligned(len(header) + len(info_json)) - len(header) - len(info_json))
    return b"".join((header, info_json, padding, observation))


def encode_attribute_reply(value: Any) -> bytes:
    """Raises TypeError when the value is not JSON."""
    return ATTRIBUTE + _json({"value": value})


def decode_attribute_reply(frame: bytes) -> Any:
    return _json_object(frame, "an attribute reply")["value"]


def encode_image_reply(image: np.ndarray) -> bytes:
    """An ``I`` reply: the H×W×3 uint8 image's rows, top first."""
    height, width, channels = image.shape
    return IMAGE_REPLY.pack(IMAGE, height, width, channels) + np.ascontiguousarray(image, dtype=np.uint8).tobytes()


def _header(header: struct.Struct, frame: bytes | bytearray) -> tuple[Any, ...]:
    """The fields of a reply's fixed header; ProtocolError where the frame is too short to hold it."""
    if len(frame) < header.size:
        raise ProtocolError(f"a {frame[:1]!r} reply of {len(frame)} bytes is shorter than its {header.size}-byte header")
    return header.unpack_from(frame)


def decode_image_reply(frame: bytes) -> np.ndarray:
    """The image of an ``I`` reply, as a fresh writable array."""
    _, height, width, channels = _header(IMAGE_REPLY, frame)
    if len(frame) != IMAGE_REPLY.size + height * width * channels:
        raise ProtocolError(f"image reply of {len(frame)} bytes does not hold {height}x{width}x{channels} pixels")
    return np.frombuffer(frame, np.uint8, height * width * channels, IMAGE_REPLY.size).reshape(height, width, channels).copy()


def encode_window_reply(image: np.ndarray, camera_frame: list[float] | None) -> bytes:
    """A ``W`` reply: a JSON description (image size, where the camera's frame is) and the window's RGB rows, top first."""
    height, width, _ = image.shape
    description = _json({"height": height, "width": width, "camera_frame": camera_frame})
    pixels = np.ascontiguousarray(image, dtype=np.uint8).tobytes()
    return _with_info(WINDOW_REPLY.pack(WINDOW, len(description)), description, pixels)


def decode_window_reply(frame: bytes) -> tuple[np.ndarray, list[float] | None]:
    """The window image (a fresh H×W×3 uint8 array) and the camera frame's box (x0, y0, x1, y1) in its pixels, if shown."""
    _, length = _header(WINDOW_REPLY, frame)
    end = WINDOW_REPLY.size + length
    description = _load_json(memoryview(frame)[WINDOW_REPLY.size : end])
    height, width, start = int(description["height"]), int(description["width"]), aligned(end)
    if len(frame) != start + height * width * 3:
        raise ProtocolError(f"window reply of {len(frame)} bytes does not hold {height}x{width}x3 pixels")
    image = np.frombuffer(frame, np.uint8, height * width * 3, start).reshape(height, width, 3).copy()
    return image, description["camera_frame"]


def encode_item_reply(labels: dict[str, Any], arrays: dict[str, np.ndarray]) -> bytearray:
    """A ``G`` reply: a JSON description (the item's labels, and the name, dtype and shape of each array),
    then each array's bytes, C order, each starting 8-aligned."""
    for name, array in arrays.items():
        if array.dtype.name not in ITEM_DTYPES:
            raise ValueError(f"item array {name!r} has dtype {array.dtype.name}; the protocol carries {list(ITEM_DTYPES)}")
    description = _json(
        {"labels": labels, "arrays": [{"name": name, "dtype": array.dtype.name, "shape": list(array.shape)} for name, array in arrays.items()]}
    )
    parts: list[bytes | memoryview] = [ITEM_REPLY.pack(ITEM, len(description)), description]
    end = ITEM_REPLY.size + len(description)
    for array in arrays.values():
        parts.append(bytes(aligned(end) - end))
        data = np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("<"))
        parts.append(data.reshape(-1).data.cast("B"))
        end = aligned(end) + data.nbytes
    # One copy of each part: a bytearray of the full size would be zeroed first.
    return bytearray().join(parts)


def decode_item_reply(frame: bytes | bytearray) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """An item's labels and its arrays (writable; views of ``frame`` where it is a bytearray)."""
    _, length = _header(ITEM_REPLY, frame)
    end = ITEM_REPLY.size + length
    description = _load_json(memoryview(frame)[ITEM_REPLY.size : end])
    if not isinstance(description, dict) or not isinstance(description.get("labels"), dict) or not isinstance(description.get("arrays"), list):
        raise ProtocolError("an item reply's description is a JSON object with labels (an object) and arrays (a list)")
    arrays, offset = {}, end
    for entry in description["arrays"]:
        name, dtype, shape = entry["name"], entry["dtype"], entry["shape"]
        if not isinstance(name, str) or dtype not in ITEM_DTYPES or not all(type(size) is int and size >= 0 for size in shape):
            raise ProtocolError(f"an item array is named, of a dtype among {list(ITEM_DTYPES)} and of a non-negative shape, got {entry!r}")
        offset = aligned(offset)
        kind = np.dtype(dtype).newbyteorder("<")
        count = int(np.prod(shape, dtype=np.int64))
        if offset + count * kind.itemsize > len(frame):
            raise ProtocolError(f"item reply of {len(frame)} bytes ends inside array {name!r}")
        array = np.frombuffer(frame, kind, count, offset).reshape(shape)
        # A frame from a lane is a bytearray, whose arrays are writable already; one from a socket is bytes.
        arrays[name] = array if array.flags.writeable and kind.isnative else array.astype(dtype)
        offset += count * kind.itemsize
    if offset != len(frame):
        raise ProtocolError(f"item reply of {len(frame)} bytes holds {len(frame) - offset} bytes after its last array")
    labels = description["labels"]
    _fold_object_arrays(labels, arrays)
    return labels, arrays


def _fold_object_arrays(labels: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
    """Move each array named ``objects.FIELD`` into the labels: its row i becomes ``FIELD`` (as a list) of
    ``labels["objects"][i]``, unless that object's labels hold ``FIELD`` already (docs/protocol.md, "Items")."""
    objects = labels.get("objects")
    for name in [name for name in arrays if name.startswith(OBJECT_ARRAY_PREFIX)]:
        rows = arrays.pop(name)
        if not isinstance(objects, list) or not all(isinstance(entry, dict) for entry in objects) or rows.ndim == 0 or len(rows) != len(objects):
            count = len(objects) if isinstance(objects, list) else "no list of"
            raise ProtocolError(f"item array {name!r} of shape {list(rows.shape)} does not hold a row for each of {count} objects")
        field = name[len(OBJECT_ARRAY_PREFIX) :]
        for entry, row in zip(objects, rows.tolist(), strict=True):
            entry.setdefault(field, row)


def encode_reset_reply(observation: bytes, info: dict[str, Any]) -> bytes:
    info_json = _json(info) if info else b""
    return _with_info(RESET_REPLY.pack(RESET, len(info_json)), info_json, observation)


def encode_step_reply(observation: bytes, reward: float, terminated: bool, truncated: bool, info: dict[str, Any]) -> bytes:
    info_json = _json(info) if info else b""
    header = STEP_REPLY.pack(STEP, bool(terminated), bool(truncated), len(info_json), float(reward))
    if not info_json:  # The common case; the 16-byte header keeps the observation aligned.
        return header + observation
    return _with_info(header, info_json, observation)


def split_reset_reply(frame: bytes) -> tuple[dict[str, Any], int]:
    """A reset reply's info and the offset at which its observation's leaves begin."""
    _, info_length = _header(RESET_REPLY, frame)
    end = RESET_REPLY.size + info_length
    info = _load_json(memoryview(frame)[RESET_REPLY.size : end]) if info_length else {}
    return info, aligned(end)


def decode_reset_reply(frame: bytes, observation: Layout) -> tuple[Any, dict[str, Any]]:
    info, start = split_reset_reply(frame)
    return observation.unpack(frame, start), info


def split_step_reply(frame: bytes) -> tuple[float, bool, bool, dict[str, Any], int]:
    """A step reply's reward, terminated, truncated and info, and the offset of its observation's leaves."""
    _, terminated, truncated, info_length, reward = _header(STEP_REPLY, frame)
    if not info_length:
        return reward, terminated == 1, truncated == 1, {}, STEP_REPLY.size
    end = STEP_REPLY.size + info_length
    return reward, terminated == 1, truncated == 1, _load_json(memoryview(frame)[STEP_REPLY.size : end]), aligned(end)


def decode_step_reply(frame: bytes, observation: Layout) -> tuple[Any, float, bool, bool, dict[str, Any]]:
    reward, terminated, truncated, info, start = split_step_reply(frame)
    return observation.unpack(frame, start), reward, terminated, truncated, info


def encode_error(kind: str, type_name: str, message: str, traceback: str = "") -> bytes:
    return ERROR + _json({"kind": kind, "type": type_name, "message": message, "traceback": traceback})


def decode_error_reply(frame: bytes) -> dict[str, Any]:
    """An ``E`` reply's fields (kind, type, message, traceback)."""
    return _json_object(frame, "an error reply")


def _json_object(frame: bytes, what: str) -> dict[str, Any]:
    body = decode_json_body(frame)
    if not isinstance(body, dict):
        raise ProtocolError(f"{what} is a JSON object, got {type(body).__name__}")
    return body


def process_exists(pid: int) -> bool:
    """Whether process ``pid`` runs on this machine: how each side of an attached Blender watches the other
    ("Attached Blender" in docs/protocol.md)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # it exists, under another user
    return True
