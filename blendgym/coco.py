"""A recording's boxes and masks as a COCO annotation file (docs/data.md, "COCO"), for detection tools.

One COCO image per item (``file_name`` names its ``KEY.rgb.png`` in the recording), one category per value of
the objects' ``category`` label (``class`` by default), and one annotation per object with visible pixels:
its box (``[x, y, width, height]``), its visible area, and, where the recording holds segmentation, its mask
as uncompressed RLE (column-major runs starting with background, as pycocotools reads them).
"""

from __future__ import annotations

import json
import os
from typing import Any

import numpy as np

from .recording import KEY_DIGITS, RecordedDataset

UNNAMED = "object"


def mask_rle(mask: np.ndarray) -> dict[str, Any]:
    """A boolean H×W mask as COCO's uncompressed RLE: run lengths over the pixels in column-major order,
    the first run being background (0 where the first pixel is set)."""
    flat = np.asarray(mask, dtype=bool).ravel(order="F")
    changes = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    bounds = np.concatenate(([0], changes, [flat.size]))
    counts = np.diff(bounds).tolist()
    if flat.size and flat[0]:
        counts.insert(0, 0)
    return {"counts": counts, "size": list(mask.shape)}


def write_coco(recording: RecordedDataset | str | os.PathLike[str], path: str | os.PathLike[str], category: str = "class") -> dict[str, Any]:
    """Write the COCO annotation file of ``recording`` (a ``RecordedDataset`` or its directory) to ``path``;
    returns what it wrote."""
    dataset = recording if isinstance(recording, RecordedDataset) else RecordedDataset(recording)
    items = [dataset[position] for position in range(len(dataset))]
    names = sorted({str(entry.get(category, UNNAMED)) for item in items for entry in item["objects"]})
    category_ids = {name: number + 1 for number, name in enumerate(names)}
    images: list[dict[str, Any]] = []
    annotations: list[dict[str, Any]] = []
    for item in items:
        camera = item["camera"]
        images.append(
            {"id": item["index"], "file_name": f"{item['index']:0{KEY_DIGITS}d}.rgb.png", "width": camera["width"], "height": camera["height"]}
        )
        for entry in item["objects"]:
            if entry.get("box") is None:
                continue
            x0, y0, x1, y1 = entry["box"]
            annotation = {
                "id": len(annotations) + 1,
                "image_id": item["index"],
                "category_id": category_ids[str(entry.get(category, UNNAMED))],
                "bbox": [x0, y0, x1 - x0, y1 - y0],
                "area": entry["visible_pixels"],
                "iscrowd": 0,
            }
            if "segmentation" in item:
                annotation["segmentation"] = mask_rle(item["segmentation"] == entry["id"])
            annotations.append(annotation)
    coco = {"images": images, "annotations": annotations, "categories": [{"id": number, "name": name} for name, number in category_ids.items()]}
    with open(path, "w") as file:
        json.dump(coco, file)
    return coco
