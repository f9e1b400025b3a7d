"""blendgym.data against real Blender processes (the bpy module): items by index whatever the processes and
DataLoader workers, faults, parameters while streaming, recordings, and labels checked against the masks."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from torch.utils.data import DataLoader

import blendgym
from blendgym.data import GENERATORS, BlenderDataset, StreamSettings, collate
from blendgym.recording import RecordedDataset
from blendgym.testing import check_generator

from conftest import TESTS, process_alive

SHAPES = "blendgym/Shapes-v0"
FAULTY = f"{TESTS / 'envs' / 'faulty_generator.py'}:FaultyShapes"
SMALL = {"width": 96, "height": 72}


def items_by_index(batches) -> dict[int, dict]:
    """Every item of DataLoader batches made with ``collate``, by index; fails on a duplicate."""
    items: dict[int, dict] = {}
    for batch in batches:
        for position, index in enumerate(batch["index"]):
            assert index not in items, f"item {index} came twice"
            items[index] = {key: (value[position].numpy() if hasattr(value, "numpy") else value[position]) for key, value in batch.items()}
    return items


def assert_same_items(first: dict, second: dict) -> None:
    assert sorted(first) == sorted(second)
    for index in first:
        assert first[index].keys() == second[index].keys()
        for key, value in first[index].items():
            if isinstance(value, np.ndarray):
                np.testing.assert_array_equal(value, second[index][key], err_msg=f"item {index}, {key}")
            else:
                assert value == second[index][key], f"item {index}, {key}"


def test_items_are_the_same_whatever_the_processes_and_workers() -> None:
    runs = {}
    for processes, workers in ((1, 0), (2, 2), (3, 0)):
        dataset = BlenderDataset(SHAPES, num_items=13, seed=7, num_processes=processes, outputs=("rgb", "segmentation", "depth", "boxes"), **SMALL)
        runs[processes, workers] = items_by_index(DataLoader(dataset, batch_size=4, num_workers=workers, collate_fn=collate))
    reference = runs[1, 0]
    assert sorted(reference) == list(range(13))
    for run in runs.values():
        assert_same_items(reference, run)
    item = reference[5]
    assert item["rgb"].shape == (72, 96, 3) and item["rgb"].dtype == np.uint8
    assert item["depth"].dtype == np.float32 and item["segmentation"].dtype == np.uint16
    assert item["seed"] == 7 and item["parameters"] == {"max_objects": 5, "camera_distance": 7.0}
    different = BlenderDataset(SHAPES, num_items=1, seed=8, **SMALL)
    assert not np.array_equal(next(iter(different))["rgb"], reference[0]["rgb"])


@pytest.mark.parametrize("generator", sorted(GENERATORS))
def test_the_generator_check_passes_on_every_shipped_generator(generator: str) -> None:
    check_generator(generator)


def test_the_generator_check_catches_a_generator_that_ignores_its_rng() -> None:
    with pytest.raises(AssertionError, match=r"item 0's '\w+' differs between one process and two"):
        check_generator(f"{TESTS / 'envs' / 'faulty_generator.py'}:UnseededShapes", num_items=2)


def test_default_collate_and_exact_counts_with_workers() -> None:
    dataset = BlenderDataset(SHAPES, num_items=7, seed=1, num_processes=2, outputs=("rgb",), **SMALL)
    for workers in (0, 2):
        seen = [index for batch in DataLoader(dataset, batch_size=3, num_workers=workers, collate_fn=collate) for index in batch["index"]]
        assert sorted(seen) == list(range(7))
    assert len(dataset) == 7


@pytest.mark.host
def test_a_killed_blender_changes_nothing_in_the_epoch() -> None:
    def epoch(kill_after: int | None) -> tuple[dict[int, dict], int]:
        dataset = BlenderDataset(SHAPES, num_items=12, seed=3, num_processes=2, outputs=("rgb", "boxes"), **SMALL)
        stream = iter(dataset)
        items = {}
        for count, item in enumerate(stream):
            items[item["index"]] = item
            if count == kill_after:
                os.kill(stream.pool.processes[0].process.pid, signal.SIGKILL)
        return items, stream.restarts

    clean, no_restarts = epoch(None)
    faulty, restarts = epoch(4)
    assert no_restarts == 0 and restarts >= 1
    assert_same_items(clean, faulty)


@pytest.mark.host
def test_a_hung_blender_is_replaced_and_its_item_made_again(tmp_path: Path) -> None:
    marker = tmp_path / "hang"
    clean = {item["index"]: item for item in BlenderDataset(FAULTY, num_items=4, seed=2, **SMALL)}
    marker.touch()
    settings = StreamSettings(timeout=10.0, generator_kwargs={"hang_once": str(marker)})
    stream = iter(BlenderDataset(FAULTY, num_items=4, seed=2, settings=settings, **SMALL))
    hung = {item["index"]: item for item in stream}
    assert not marker.exists() and stream.restarts == 1
    assert_same_items(clean, hung)


def test_a_generator_that_raises_names_the_item_and_its_seed() -> None:
    dataset = BlenderDataset(FAULTY, num_items=5, seed=11, settings=StreamSettings(generator_kwargs={"raise_at": 2}), **SMALL)
    stream = iter(dataset)
    with pytest.raises(blendgym.BlenderDataError) as caught:
        list(stream)
    message = str(caught.value)
    assert "item 2 " in message and "seed 11" in message and "broken on purpose" in message
    assert "faulty_generator.py" in caught.value.remote_traceback
    assert not any(process.alive for process in stream.pool.processes)


def test_parameters_change_while_streaming() -> None:
    dataset = BlenderDataset(SHAPES, num_items=12, seed=4, num_processes=2, max_in_flight=3, outputs=("rgb",), **SMALL)
    items = []
    for item in dataset:
        items.append(item)
        if len(items) == 4:
            dataset.set_parameters({"camera_distance": 11.0})
    distances = [item["parameters"]["camera_distance"] for item in items]
    # Items already asked for (at most max_in_flight) keep the old value; every later one has the new one.
    assert distances[:4] == [7.0] * 4 and distances[4 + 3 :] == [11.0] * 5
    assert distances == sorted(distances)
    # The new value made those items: the same as a stream started with it.
    fresh = BlenderDataset(SHAPES, num_items=12, seed=4, parameters={"camera_distance": 11.0}, outputs=("rgb",), **SMALL)
    last = list(fresh)[-1]
    np.testing.assert_array_equal(last["rgb"], items[-1]["rgb"])
    dataset.set_parameters({"camera_distance": 99.0})
    with pytest.raises(blendgym.BlenderDataError, match="camera_distance"):
        list(dataset)


def test_a_recording_replays_without_blender_and_loads_with_webdataset(tmp_path: Path) -> None:
    import webdataset

    streamed = {
        item["index"]: item
        for item in BlenderDataset(
            SHAPES, num_items=10, seed=5, outputs=("rgb", "depth", "segmentation", "boxes"), record=tmp_path, shard_items=4, **SMALL
        )
    }
    assert sorted(path.name for path in tmp_path.iterdir()) == ["000-000000.tar", "000-000001.tar", "000-000002.tar"]
    # Replaying starts no Blender: the child process has no bpy and no Blender on its PATH.
    script = textwrap.dedent(f"""
        import sys, json, numpy
        sys.modules["bpy"] = None
        from blendgym.recording import RecordedDataset
        recording = RecordedDataset({str(tmp_path)!r})
        print(json.dumps([len(recording), recording.indices, int(recording[3]["rgb"].sum())]))
    """)
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env={**os.environ, "PATH": os.path.dirname(sys.executable)}, check=True
    )
    assert result.stdout.strip() == f"[10, {list(range(10))}, {int(streamed[3]['rgb'].sum())}]"
    recording = RecordedDataset(tmp_path)
    assert_same_items(streamed, {item["index"]: item for item in (recording[position] for position in range(len(recording)))})
    shuffled = next(iter(DataLoader(recording, batch_size=10, shuffle=True, collate_fn=collate)))
    assert sorted(shuffled["index"]) == list(range(10))

    import io

    from PIL import Image

    loaded = {}
    for sample in webdataset.WebDataset([str(path) for path in sorted(tmp_path.glob("*.tar"))], shardshuffle=False).decode():
        loaded[sample["json"]["index"]] = sample
    assert sorted(loaded) == list(range(10))
    for index, sample in loaded.items():
        np.testing.assert_array_equal(sample["depth.npy"], streamed[index]["depth"])
        np.testing.assert_array_equal(sample["segmentation.npy"], streamed[index]["segmentation"])
        assert sample["json"]["objects"] == streamed[index]["objects"]
        image = sample["rgb.png"]
        pixels = np.asarray(image if not isinstance(image, bytes) else Image.open(io.BytesIO(image)))
        pixels = pixels if pixels.dtype == np.uint8 else (pixels * 255).round().astype(np.uint8)
        np.testing.assert_array_equal(pixels, streamed[index]["rgb"])


def test_a_recordings_coco_file_loads_in_pycocotools_with_its_boxes_and_masks(tmp_path: Path) -> None:
    from pycocotools.coco import COCO

    from blendgym.coco import write_coco

    streamed = list(BlenderDataset(SHAPES, num_items=4, seed=12, outputs=("rgb", "segmentation", "boxes"), record=tmp_path / "shards", **SMALL))
    write_coco(tmp_path / "shards", tmp_path / "coco.json")
    coco = COCO(str(tmp_path / "coco.json"))
    assert sorted(coco.getImgIds()) == [0, 1, 2, 3]
    assert {category["name"] for category in coco.loadCats(coco.getCatIds())} <= {"cube", "sphere", "cylinder", "cone"}
    shown = [(item, entry) for item in streamed for entry in item["objects"] if entry["box"] is not None]
    annotations = coco.loadAnns(coco.getAnnIds())
    assert len(annotations) == len(shown)
    for annotation, (item, entry) in zip(annotations, shown, strict=True):
        assert annotation["image_id"] == item["index"] and coco.loadCats(annotation["category_id"])[0]["name"] == entry["class"]
        x0, y0, x1, y1 = entry["box"]
        assert annotation["bbox"] == [x0, y0, x1 - x0, y1 - y0] and annotation["area"] == entry["visible_pixels"]
        np.testing.assert_array_equal(coco.annToMask(annotation).astype(bool), item["segmentation"] == entry["id"])


@pytest.mark.host
def test_a_recording_killed_mid_shard_keeps_its_finished_shards(tmp_path: Path) -> None:
    script = textwrap.dedent(f"""
        from blendgym.data import BlenderDataset
        import time
        for item in BlenderDataset(
            {SHAPES!r}, num_items=None, seed=6, outputs=("rgb",), record={str(tmp_path)!r}, shard_items=3, width=64, height=48
        ):
            print(item["index"], flush=True)
            if item["index"] == 7:
                time.sleep(600)  # killed here: two shards finished, the third holds items 6 and 7
    """)
    recorder = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert recorder.stdout is not None
    for line in recorder.stdout:
        if int(line) == 7:
            break
    recorder.kill()
    recorder.wait()
    finished = sorted(path.name for path in tmp_path.glob("*.tar"))
    assert finished == ["000-000000.tar", "000-000001.tar"] and list(tmp_path.glob("*.partial"))
    recording = RecordedDataset(tmp_path)
    assert recording.indices == list(range(6))
    clean = list(BlenderDataset(SHAPES, num_items=6, seed=6, outputs=("rgb",), width=64, height=48))
    for position, item in enumerate(clean):
        np.testing.assert_array_equal(recording[position]["rgb"], item["rgb"])


def test_boxes_projections_and_depth_agree_with_the_masks() -> None:
    dataset = BlenderDataset(SHAPES, num_items=20, seed=9, outputs=("rgb", "depth", "segmentation", "boxes"), width=320, height=240)
    checked_cubes = checked_depths = 0
    visibilities = []
    for item in dataset:
        segmentation, depth, camera = item["segmentation"], item["depth"], item["camera"]
        K, world_to_camera = np.array(camera["K"]), np.array(camera["world_to_camera"])
        assert set(np.unique(segmentation)) <= {0, *(entry["id"] for entry in item["objects"])}
        for entry in item["objects"]:
            mask = segmentation == entry["id"]
            assert entry["visible_pixels"] == mask.sum()
            if not mask.any():
                assert entry["box"] is None
                continue
            rows, columns = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
            assert entry["box"] == [columns[0], rows[0], columns[-1] + 1, rows[-1] + 1]
            visibilities.append(entry["visibility"])
            corners = np.array(entry["corners"])
            hull = [*corners[:, :2].min(axis=0), *corners[:, :2].max(axis=0)]
            # The visible pixels lie inside the projected bounding box...
            assert hull[0] - 1 <= entry["box"][0] and hull[1] - 1 <= entry["box"][1]
            assert entry["box"][2] <= hull[2] + 1 and entry["box"][3] <= hull[3] + 1
            # ...and fill it, for a cube in full view, whose outline is the hull of its projected corners (so a
            # cube whose box falls short of the hull is one partly hidden).
            if entry["class"] == "cube" and 0 < hull[0] and hull[2] < 320 and 0 < hull[1] and hull[3] < 240 and entry["visibility"] == 1.0:
                np.testing.assert_allclose(entry["box"], hull, atol=1.5)
                checked_cubes += 1
            # The depth image holds the distance along the camera's axis: at the centre of a pixel of a cube's or
            # cylinder's flat top, that of the point where the pixel's ray meets the top's plane.
            top = np.mean(np.array(entry["corners_3d"])[[1, 2, 5, 6]], axis=0)  # Blender's bound_box: these have the top z
            in_camera = world_to_camera @ np.append(top, 1.0)
            u, v = (K @ in_camera[:3] / in_camera[2])[:2].astype(int)
            if 0 <= v < 240 and 0 <= u < 320 and segmentation[v, u] == entry["id"] and entry["class"] in ("cube", "cylinder"):
                camera_to_world = np.linalg.inv(world_to_camera)
                ray = camera_to_world[:3, :3] @ np.linalg.solve(K, [u + 0.5, v + 0.5, 1.0])  # depth 1 along the axis
                expected = (top[2] - camera_to_world[2, 3]) / ray[2]
                assert depth[v, u] == pytest.approx(expected, rel=1e-3)
                checked_depths += 1
            origin = world_to_camera @ np.append(np.array(entry["pose"])[:3, 3], 1.0)
            np.testing.assert_allclose((K @ origin[:3] / origin[2])[:2], entry["center"][:2], atol=1e-3)
            assert entry["center"][2] == pytest.approx(origin[2], abs=1e-4)
        assert np.isinf(depth[segmentation == 0]).mean() > 0.2  # sky behind the table
    assert checked_cubes >= 3 and checked_depths >= 10
    assert sum(0.0 < share < 1.0 for share in visibilities) >= 3 and sum(share == 1.0 for share in visibilities) >= 10


def test_an_env_class_is_not_a_generator_and_back() -> None:
    with pytest.raises(ValueError, match="is an env, not a"):
        list(BlenderDataset("blendgym_envs.cartpole:CartPole", num_items=1))
    with pytest.raises(ValueError, match="is a data generator, not an env"):
        blendgym.BlenderEnv("blendgym_envs.shapes:Shapes")
    with pytest.raises(ValueError, match="is a data generator, not an env"):
        blendgym.BlenderVectorEnv("blendgym_envs.shapes:Shapes", 2)


@pytest.mark.host
def test_the_processes_end_with_the_stream() -> None:
    stream = iter(BlenderDataset(SHAPES, num_items=None, seed=0, num_processes=2, outputs=("rgb",), **SMALL))
    next(stream)
    pids = [process.process.pid for process in stream.pool.processes]
    stream.close()
    assert not any(process_alive(pid) for pid in pids)
    with pytest.raises(StopIteration):
        next(stream)


@pytest.mark.executable
def test_a_blender_executable_streams_the_same_kind_of_items(blender_executable: str) -> None:
    dataset = BlenderDataset(
        SHAPES, num_items=3, seed=1, outputs=("rgb", "segmentation", "boxes"), settings=StreamSettings(blender=blender_executable), **SMALL
    )
    for item in dataset:
        assert item["rgb"].shape == (72, 96, 3) and item["rgb"].any()
        for entry in item["objects"]:
            assert entry["visible_pixels"] == (item["segmentation"] == entry["id"]).sum()


@pytest.mark.slow
@pytest.mark.timeout(3600)
def test_the_keypoint_example_learns_from_streamed_items(tmp_path: Path) -> None:
    # 66-103 s alone and 296 s beside the other test sessions of scripts/test.sh on a slow 2-core VM, at the
    # script's default 30,000 items: the budget that beats the baselines with a margin (12,000 items: 0.41 of
    # the baseline's error, the bound 0.5). The timeouts give a 4× slower machine three times that run.
    result = subprocess.run(
        [sys.executable, str(TESTS.parent / "agents" / "train_keypoints.py"), "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=3500,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    errors = result.stdout.split("position error, pixels:")[1].split()
    model_error, baseline_error = float(errors[1]), float(errors[4])
    assert model_error < 0.5 * baseline_error, result.stdout[-2000:]
    accuracy = result.stdout.split("shape accuracy:")[1].split()
    assert float(accuracy[1]) > float(accuracy[4]), result.stdout[-2000:]
    assert len(list((tmp_path / "held-out").glob("*.tar"))) == 1


@pytest.mark.host
def test_progress_shows_items_in_flight_and_restarts(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    items = list(BlenderDataset(SHAPES, num_items=3, seed=0, outputs=("rgb",), record=tmp_path, progress=True, **SMALL))
    assert len(items) == 3
    shown = capsys.readouterr().err
    assert "3/3" in shown and "in_flight=" in shown and "restarts=0" in shown
