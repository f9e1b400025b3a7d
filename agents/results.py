"""The full training results: every training script in agents/ at its default budget, one after another,
each in a fresh process, and one table of what each reached against its baseline.

The test suite checks that each script learns on a small budget (tests/test_training.py); this is the long
run whose table docs/benchmarks.md ("Training results") keeps. It takes about 15 minutes on a 2-core machine
with no GPU. SAC on the env library against MuJoCo's counterparts (agents/train_sac.py) is
`python benchmarks/bench_envs.py --train`, which draws the learning curves as well. Ray RLlib's script runs in
its own virtual environment: `.venv-rllib/bin/python agents/train_rllib.py` (scripts/test_rllib.sh makes it).

    python agents/results.py [--only train_cartpole train_pendulum ...] [--out runs/results]
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

AGENTS = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Run:
    """One script at its defaults, and how to read its result and its baseline from what it prints."""

    script: str
    task: str
    result: str  # a regular expression whose first group is the trained score
    baseline: str | None  # the same for the baseline's score, where the script measures one
    baseline_name: str


RUNS = [
    Run(
        "train_cartpole",
        "PPO on blendgym/CartPole-v0, until it scores 475",
        r"evaluation over 20 episodes: mean return ([-\d.]+)",
        None,
        "threshold 475",
    ),
    Run(
        "train_pendulum",
        "SAC on blendgym/Pendulum-v0, 12,000 steps",
        r"evaluation over \d+ episodes: mean return ([-\d.]+)",
        r"random actions: mean return ([-\d.]+)",
        "random actions",
    ),
    Run(
        "train_cartpole_pixels",
        "PPO CnnPolicy on 84×84 images of CartPole, 40,000 steps",
        r"trained policy: mean return ([-\d.]+)",
        r"random policy: mean return ([-\d.]+)",
        "random policy",
    ),
    Run(
        "train_keypoints",
        "CNN on 30,000 streamed Shapes-v0 items: position error (px)",
        r"position error, pixels: +model ([-\d.]+)",
        r"mean-position baseline ([-\d.]+)",
        "mean position",
    ),
]

parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
parser.add_argument("--only", nargs="+", default=None, metavar="SCRIPT", help="run only these scripts (names without .py)")
parser.add_argument("--out", type=Path, default=None, help="where the scripts save their models (default: a temporary folder)")
args = parser.parse_args()

out = args.out or Path(tempfile.mkdtemp(prefix="blendgym-results-"))
rows = []
for run in RUNS:
    if args.only and run.script not in args.only:
        continue
    began = time.perf_counter()
    done = subprocess.run([sys.executable, str(AGENTS / f"{run.script}.py"), "--out", str(out / run.script)], capture_output=True, text=True)
    seconds = time.perf_counter() - began
    result = re.search(run.result, done.stdout)
    baseline = re.search(run.baseline, done.stdout) if run.baseline else None
    if result is None:
        print(f"{run.script} exited {done.returncode} without a result:\n{done.stdout[-2000:]}{done.stderr[-2000:]}", file=sys.stderr)
    rows.append(
        (
            f"`agents/{run.script}.py`",
            run.task,
            result.group(1) if result else f"failed (exit {done.returncode})",
            f"{baseline.group(1)} ({run.baseline_name})" if baseline else run.baseline_name,
            f"{seconds:.0f}",
        )
    )
    print(f"{run.script}: {rows[-1][2]} in {seconds:.0f} s", file=sys.stderr, flush=True)

print("| script | task, budget | trained | baseline | seconds (whole script) |")
print("|---|---|---|---|---|")
for row in rows:
    print("| " + " | ".join(row) + " |")
