"""Recordings alone (no Blender): the PNG codec, shards that appear only once complete, and replay."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import numpy as np
import pytest

from blendgym.data import ParameterBoard
from blendgym.recording import RecordedDataset, ShardWriter, decode_png, encode_png


def item(index: int) -> dict:
    rng = np.random.default_rng(index)
    return {
        "index": index,
        "seed": 0,
        "objects": [{"id": 1, "box": [1, 2, 3, 4]}],
        "rgb": rng.integers(0, 256, (5, 7, 3), dtype=np.uint8),
        "depth": rng.random((5, 7), dtype=np.float32),
    }


def test_png_round_trips_and_pil_reads_it() -> None:
    image = np.random.default_rng(0).integers(0, 256, (9, 13, 3), dtype=np.uint8)
    data = encode_png(image)
    np.testing.assert_array_equal(decode_png(data), image)
    from PIL import Image

    np.testing.assert_array_equal(np.asarray(Image.open(io.BytesIO(data))), image)
    with pytest.raises(ValueError):
        encode_png(image[:, :, :2])


def test_shards_appear_when_complete_and_replay_in_index_order(tmp_path: Path) -> None:
    writer = ShardWriter(tmp_path, "000", shard_items=2)
    for index in (4, 1, 3):
        writer.add(item(index))
    assert [path.name for path in sorted(tmp_path.iterdir())] == ["000-000000.tar", "000-000001.tar.partial"]
    with pytest.raises(FileNotFoundError):
        RecordedDataset(tmp_path / "nothing")
    partial = RecordedDataset(tmp_path)
    assert partial.indices == [1, 4]  # the unfinished shard is not read
    writer.close()
    recording = RecordedDataset(tmp_path)
    assert recording.indices == [1, 3, 4] and len(recording) == 3
    replayed = recording[2]
    np.testing.assert_array_equal(replayed["rgb"], item(4)["rgb"])
    np.testing.assert_array_equal(replayed["depth"], item(4)["depth"])
    assert replayed["objects"] == item(4)["objects"] and replayed["index"] == 4
    with tarfile.open(tmp_path / "000-000000.tar") as tar:
        assert tar.getnames() == [
            "0000000004.json",
            "0000000004.rgb.png",
            "0000000004.depth.npy",
            "0000000001.json",
            "0000000001.rgb.png",
            "0000000001.depth.npy",
        ]


def test_the_parameter_board_shares_values_and_is_removed_with_its_dataset() -> None:
    board = ParameterBoard({"size": 1.0})
    assert board.read() == {"size": 1.0}
    board.write({"size": 2.0, "colour": [0.1, 0.2, 0.3]})
    assert board.read() == {"size": 2.0, "colour": [0.1, 0.2, 0.3]}
    with pytest.raises(ValueError, match="JSON"):
        board.write({"size": object()})
    directory = board.directory
    del board
    import gc

    gc.collect()
    assert not Path(directory).exists()


def test_masks_become_rle_that_pycocotools_decodes() -> None:
    from pycocotools import mask as coco_mask

    from blendgym.coco import mask_rle

    rng = np.random.default_rng(1)
    for mask in (rng.random((7, 5)) > 0.5, np.ones((3, 4), bool), np.zeros((2, 2), bool)):
        rle = mask_rle(mask)
        assert sum(rle["counts"]) == mask.size
        decoded = coco_mask.decode(coco_mask.frPyObjects(rle, *mask.shape))
        np.testing.assert_array_equal(decoded.astype(bool), mask)
