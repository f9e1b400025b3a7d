"""Data streaming throughput: labelled renders through ``BlenderDataset`` into a DataLoader, against making the
same items inside Blender with nothing sent anywhere.

Method: the items are blendgym/Shapes-v0's at 640×480 (1–5 shapes on a table), ``fast`` renderer. Each
measurement runs in fresh processes:

- *DataLoader*: ``DataLoader(BlenderDataset(...), batch_size=8, num_workers=0, collate_fn=collate)`` over
  --items items, timed from the first batch to the last (start-up and the processes' close excluded, as
  the in-Blender processes' start-up and exit are), for 1 and 2 Blender processes;
- *in Blender*: the same number of processes, each a Python with the bpy module that builds the same
  generator and makes its share of the same items (``generate`` and the labels) in a loop, placed and
  tuned as blendgym places and tunes its own (one core each, ``blendgym.process.blender_environment``);
  items per second of all of them together, timed by the slowest.

Contenders take turns: each round runs every contender once, in the same order; the table shows medians
over --rounds rounds, and the DataLoader's rate over the in-Blender rate of the same outputs and process
count. blendtorch's published figure, 94 images/s (batches of 8 at 640×480 from 5 instances on a GPU
machine), is the anchor. Prints one table; asserts nothing. Results and method are kept in
docs/benchmarks.md.

    python benchmarks/bench_data.py [--rounds 3] [--items 400]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import textwrap
import time

from fresh import measurement

BLENDTORCH_IMAGES_PER_SECOND = 94.0
OUTPUT_SETS = {"rgb, boxes": ("rgb", "boxes"), "rgb, boxes, depth, segmentation": ("rgb", "boxes", "depth", "segmentation")}

IN_BLENDER = textwrap.dedent(
    """
    import json, os, sys, time
    core, first, count, outputs = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4].split(",")
    os.sched_setaffinity(0, {core})
    import bpy, numpy
    from blendgym_envs.shapes import Shapes
    from blendgym_blender.labels import Labeller
    from blendgym_blender.view import ViewSettings
    generator = Shapes()
    generator.apply_parameters(dict(generator.params))
    labeller = Labeller(generator.scene, ViewSettings.from_options(width=640, height=480, outputs=tuple(outputs)), "/tmp")
    def make(index):
        own = generator.generate(numpy.random.default_rng([0, index]))
        return labeller.label(generator.labelled_objects(), own)
    make(first)
    start = time.perf_counter()
    for index in range(first, first + count):
        make(index)
    print(json.dumps({"seconds": time.perf_counter() - start}))
    """
)


def in_blender(processes: int, outputs: tuple[str, ...], items: int) -> float:
    """Items per second of ``processes`` bpy processes making ``items`` items between them, nothing sent."""
    from blendgym import affinity
    from blendgym.process import blender_environment

    cores = affinity.place(processes, "auto")
    share = items // processes
    children = [
        subprocess.Popen(
            [sys.executable, "-c", IN_BLENDER, str(core if core is not None else 0), str(index * share), str(share), ",".join(outputs)],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env={**blender_environment(core), **os.environ},
        )
        for index, core in enumerate(cores)
    ]
    seconds = [json.loads(child.communicate()[0].strip().splitlines()[-1])["seconds"] for child in children]
    return share * processes / max(seconds)


def data_loader(processes: int, outputs: tuple[str, ...], items: int) -> float:
    """Items per second into a DataLoader (batches of 8) from ``processes`` Blender processes."""
    from torch.utils.data import DataLoader

    from blendgym.data import BlenderDataset, collate

    dataset = BlenderDataset("blendgym/Shapes-v0", num_items=items + 8, seed=0, num_processes=processes, outputs=outputs, width=640, height=480)
    batches = iter(DataLoader(dataset, batch_size=8, num_workers=0, collate_fn=collate))
    next(batches)
    start = last = time.perf_counter()
    count = 0
    for batch in batches:
        count += len(batch["index"])
        last = time.perf_counter()
    return count / (last - start)


def measure(contender: str, processes: int, outputs: str, items: int) -> float:
    """One measurement in a fresh process."""
    command = [sys.executable, __file__, "--measure", contender, "--processes", str(processes), "--outputs", outputs, "--items", str(items)]
    return float(measurement(command)["rate"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--items", type=int, default=400)
    parser.add_argument("--measure", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--processes", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--outputs", default="rgb, boxes", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure is not None:
        run = data_loader if args.measure == "dataloader" else in_blender
        print(json.dumps({"rate": run(args.processes, OUTPUT_SETS[args.outputs], args.items)}))
        return

    rows = [(outputs, processes, contender) for outputs in OUTPUT_SETS for processes in (1, 2) for contender in ("in Blender", "dataloader")]
    rates: dict[tuple[str, int, str], list[float]] = {row: [] for row in rows}
    for round_index in range(args.rounds):
        for row in rows:
            rates[row].append(measure(row[2], row[1], row[0], args.items))
        print(f"round {round_index + 1} of {args.rounds} done", file=sys.stderr)
    medians = {row: statistics.median(values) for row, values in rates.items()}
    print(f"Labelled 640x480 items per second (median of {args.rounds} rounds, {args.items} items each); {os.cpu_count()} CPUs, no GPU")
    print(f"{'outputs':<34} {'processes':>9} {'in Blender':>11} {'DataLoader':>11} {'ratio':>6} {'vs blendtorch 94/s':>19}")
    for outputs in OUTPUT_SETS:
        for processes in (1, 2):
            alone, streamed = medians[outputs, processes, "in Blender"], medians[outputs, processes, "dataloader"]
            print(
                f"{outputs:<34} {processes:>9} {alone:>11.0f} {streamed:>11.0f} {streamed / alone:>6.2f} "
                f"{streamed / BLENDTORCH_IMAGES_PER_SECOND:>18.1f}x"
            )


if __name__ == "__main__":
    main()
