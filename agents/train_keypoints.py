"""Learn from streamed renders: a small CNN finds the object in Shapes-v0 images and names its shape.

Training items stream from Blender (seed 1) and are never seen twice; the held-out set (seed 2) is recorded
first and replayed without Blender. The model predicts the pixel position of the object's projected origin
(the centre of its base) and its class, and is judged against trivial baselines: always guessing the
training items' mean position, and always guessing one class.

    python agents/train_keypoints.py [--items 30000] [--held-out 400] [--size 64] [--processes 2] [--out runs/keypoints]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader

from blendgym.data import BlenderDataset, collate
from blendgym.recording import RecordedDataset

# Shapes-v0's classes, by class_id: cube, sphere, cylinder, cone (envs/shapes.py, which runs in Blender).
CLASSES = 4


def targets(batch: dict, size: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Images as floats in [0, 1] (N, 3, H, W), object positions in [0, 1] (N, 2), class ids (N,)."""
    images = batch["rgb"].permute(0, 3, 1, 2).float() / 255.0
    (objects,) = zip(*batch["objects"], strict=True)  # one object per item
    positions = torch.tensor([entry["center"][:2] for entry in objects], dtype=torch.float32) / size
    classes = torch.tensor([entry["class_id"] for entry in objects])
    return images, positions, classes


class Finder(nn.Module):
    def __init__(self, size: int) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 16, 5, stride=2, padding=2),
            nn.ReLU(),
            nn.Conv2d(16, 32, 3, stride=2, padding=1),
            nn.ReLU(),
            nn.Conv2d(32, 64, 3, stride=2, padding=1),
            nn.ReLU(),
            nn.Flatten(),
            nn.Linear(64 * (size // 8) ** 2, 128),
            nn.ReLU(),
        )
        self.position = nn.Linear(128, 2)
        self.shape = nn.Linear(128, CLASSES)

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        features = self.features(images)
        return self.position(features), self.shape(features)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=30000, help="training items, streamed once each")
    parser.add_argument("--held-out", type=int, default=400)
    parser.add_argument("--size", type=int, default=64, help="image width and height, pixels")
    parser.add_argument("--processes", type=int, default=2, help="Blender processes rendering")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--out", default="runs/keypoints")
    args = parser.parse_args()
    torch.manual_seed(0)
    # One object per item, so that "where is it" has one answer; the camera near, so that it is not a speck.
    scene = {
        "num_processes": args.processes,
        "outputs": ("rgb",),
        "width": args.size,
        "height": args.size,
        "parameters": {"max_objects": 1, "camera_distance": 4.0},
    }

    held_out_directory = Path(args.out) / "held-out"
    for _ in BlenderDataset("blendgym/Shapes-v0", num_items=args.held_out, seed=2, record=held_out_directory, **scene):
        pass
    held_out = RecordedDataset(held_out_directory)

    model = Finder(args.size)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    streamed = BlenderDataset("blendgym/Shapes-v0", num_items=args.items, seed=1, **scene)
    position_sum, seen = torch.zeros(2), 0
    for step, batch in enumerate(DataLoader(streamed, batch_size=args.batch_size, collate_fn=collate)):
        images, positions, classes = targets(batch, args.size)
        predicted_positions, class_logits = model(images)
        loss = 10 * nn.functional.mse_loss(predicted_positions, positions) + 0.1 * nn.functional.cross_entropy(class_logits, classes)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        position_sum, seen = position_sum + positions.sum(0), seen + len(positions)
        if step % 50 == 0:
            print(f"step {step:4d}  items {seen:6d}  loss {loss.item():.4f}")

    model.eval()
    with torch.no_grad():
        images, positions, classes = targets(next(iter(DataLoader(held_out, batch_size=len(held_out), collate_fn=collate))), args.size)
        predicted_positions, class_logits = model(images)
    error = ((predicted_positions - positions).norm(dim=1) * args.size).mean().item()
    baseline_error = ((position_sum / seen - positions).norm(dim=1) * args.size).mean().item()
    accuracy = (class_logits.argmax(1) == classes).float().mean().item()
    baseline_accuracy = np.bincount(classes.numpy(), minlength=CLASSES).max() / len(classes)
    print(f"held-out items: {len(held_out)} (replayed from {held_out_directory}, no Blender)")
    print(f"position error, pixels:  model {error:.2f}   mean-position baseline {baseline_error:.2f}")
    print(f"shape accuracy:          model {accuracy:.2f}   one-class baseline {baseline_accuracy:.2f}")


if __name__ == "__main__":
    main()
