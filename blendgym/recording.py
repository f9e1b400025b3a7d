"""Recordings of a data stream: WebDataset-style tar shards, written as items arrive and replayed without Blender.

Each item becomes the tar members ``KEY.json`` (index, seed, parameters, camera, objects, labels),
``KEY.rgb.png`` (the image, 8-bit RGB PNG) and ``KEY.NAME.npy`` for every other array (depth, segmentation),
where KEY is the item's index in ten digits. Nothing is pickled. A shard is written as ``NAME.tar.partial``
and renamed to ``NAME.tar`` once complete, so a recording killed at any moment leaves every finished shard
readable, and readers ignore the unfinished one. The ``webdataset`` library reads the shards as they are.
"""

from __future__ import annotations

import io
import json
import os
import struct
import tarfile
import zlib
from pathlib import Path
from typing import Any

import numpy as np
from torch.utils.data import Dataset

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# zlib level of the PNG images: level 3 wrote 640x480 renders about twice as fast as level 6, a few % larger.
PNG_COMPRESSION = 3
KEY_DIGITS = 10


def encode_png(image: np.ndarray) -> bytes:
    """An H×W×3 uint8 image as an 8-bit RGB PNG (no filtering)."""
    height, width, channels = image.shape
    if image.dtype != np.uint8 or channels != 3:
        raise ValueError(f"a PNG here holds H×W×3 uint8 pixels, got {image.dtype} {image.shape}")
    rows = np.empty((height, 1 + width * 3), dtype=np.uint8)
    rows[:, 0] = 0  # filter type None on every row
    rows[:, 1:] = image.reshape(height, width * 3)
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return PNG_SIGNATURE + _chunk(b"IHDR", header) + _chunk(b"IDAT", zlib.compress(rows.tobytes(), PNG_COMPRESSION)) + _chunk(b"IEND", b"")


def decode_png(data: bytes) -> np.ndarray:
    """The pixels of a PNG that ``encode_png`` wrote (8-bit RGB, unfiltered rows)."""
    if not data.startswith(PNG_SIGNATURE):
        raise ValueError("not a PNG file")
    offset, compressed, size = len(PNG_SIGNATURE), [], None
    while offset < len(data):
        length, kind = struct.unpack_from(">I4s", data, offset)
        body = data[offset + 8 : offset + 8 + length]
        if kind == b"IHDR":
            width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", body)
            if (depth, colour, interlace) != (8, 2, 0):
                raise ValueError("only 8-bit RGB PNGs without interlacing are read here")
            size = (height, width)
        elif kind == b"IDAT":
            compressed.append(body)
        offset += 12 + length
    if size is None:
        raise ValueError("PNG without a header chunk")
    rows = np.frombuffer(zlib.decompress(b"".join(compressed)), dtype=np.uint8).reshape(size[0], 1 + size[1] * 3)
    if rows[:, 0].any():
        raise ValueError("filtered PNG rows are not read here; this PNG was not written by blendgym")
    return rows[:, 1:].reshape(size[0], size[1], 3).copy()


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def item_members(item: dict[str, Any]) -> list[tuple[str, bytes]]:
    """The tar members (name, bytes) of one item."""
    key = f"{item['index']:0{KEY_DIGITS}d}"
    labels = {name: value for name, value in item.items() if not isinstance(value, np.ndarray)}
    members = [(f"{key}.json", json.dumps(labels).encode())]
    for name, value in item.items():
        if not isinstance(value, np.ndarray):
            continue
        if name == "rgb":
            members.append((f"{key}.rgb.png", encode_png(value)))
        else:
            buffer = io.BytesIO()
            np.save(buffer, value, allow_pickle=False)
            members.append((f"{key}.{name}.npy", buffer.getvalue()))
    return members


class ShardWriter:
    """Writes items into ``directory/PREFIX-NNNNNN.tar`` shards of ``shard_items`` items each."""

    def __init__(self, directory: Path, prefix: str, shard_items: int) -> None:
        if shard_items < 1:
            raise ValueError(f"shard_items must be at least 1, got {shard_items}")
        directory.mkdir(parents=True, exist_ok=True)
        self.directory = directory
        self.prefix = prefix
        self.shard_items = shard_items
        self.shards = 0
        self.count = 0
        self.tar: tarfile.TarFile | None = None

    def add(self, item: dict[str, Any]) -> None:
        if self.tar is None:
            self.tar = tarfile.open(self._path(".tar.partial"), "w")
        for name, data in item_members(item):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            self.tar.addfile(info, io.BytesIO(data))
        self.count += 1
        if self.count == self.shard_items:
            self._finish()

    def close(self) -> None:
        """Finish the shard under way (a recording may end mid-shard)."""
        if self.tar is not None:
            self._finish()

    def _finish(self) -> None:
        assert self.tar is not None
        self.tar.close()
        self.tar = None
        os.replace(self._path(".tar.partial"), self._path(".tar"))
        self.shards += 1
        self.count = 0

    def _path(self, suffix: str) -> Path:
        return self.directory / f"{self.prefix}-{self.shards:06d}{suffix}"


class RecordedDataset(Dataset):  # type: ignore[type-arg]
    """The items of a recording, by position in index order, without Blender: a map-style dataset (random
    access, shuffling by the DataLoader). ``dataset[k]`` is the item with the k-th smallest index, the same
    dict a ``BlenderDataset`` yielded; ``indices`` lists the recorded indices."""

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = Path(directory)
        shards = sorted(self.directory.glob("*.tar"))
        if not shards:
            raise FileNotFoundError(f"no finished shards (*.tar) in {self.directory}")
        members: dict[int, list[tuple[Path, str, int, int]]] = {}
        for shard in shards:
            with tarfile.open(shard) as tar:
                for info in tar:
                    key, _, extension = info.name.partition(".")
                    members.setdefault(int(key), []).append((shard, extension, info.offset_data, info.size))
        self.indices = sorted(members)
        self._members = [members[index] for index in self.indices]

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, position: int) -> dict[str, Any]:
        item: dict[str, Any] = {}
        arrays: dict[str, np.ndarray] = {}
        for shard, extension, offset, size in self._members[position]:
            with open(shard, "rb") as file:
                file.seek(offset)
                data = file.read(size)
            if extension == "json":
                item.update(json.loads(data))
            elif extension == "rgb.png":
                arrays["rgb"] = decode_png(data)
            elif extension.endswith(".npy"):
                arrays[extension.removesuffix(".npy")] = np.load(io.BytesIO(data), allow_pickle=False)
        return {**item, **arrays}
