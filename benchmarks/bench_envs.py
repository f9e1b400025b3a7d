"""The env library against its MuJoCo counterparts through gymnasium, in one run: steps/s and random returns,
and with --train the score of the same SAC after the same budget.

Method: each measurement runs in a fresh process (this script with --measure), one at a time, taking turns:
every round measures every env once, in the table's order, and the table shows each env's median over
--rounds rounds. "1 env" is ``gymnasium.make(id)`` stepped in a tight loop with uniformly random actions
(seeded), resetting when an episode ends, after one warm-up episode; "pool of 2" is ``gymnasium.make_vec(id,
num_envs=2)``: blendgym's own pool of Blender processes (``vectorization_mode="vector_entry_point"``), and
for MuJoCo gymnasium's AsyncVectorEnv (one process per env), the vectoriser users pick for parallel envs.
Steps/s counts env steps (a pool's step is 2). "random return" is the mean return of random actions over
--episodes episodes. With --train, ``agents/train_sac.py`` runs on each env (SB3's SAC at its defaults, but
1,000 random steps before learning starts, one torch thread), for --budget steps, one env after another,
and the table adds the trained policy's mean return over 10 episodes and the normalised score
(trained − random) / (threshold − random), where the threshold is the env's reward threshold; a
blendgym env's score relative to its counterpart's is the ratio of the two normalised scores.
--jobs trainings run at once (each a fresh process with one torch thread; a score does not depend on how many
run beside it, since SAC and the envs are deterministic per seed, but their steps/s do). The trainings'
episode returns, smoothed, are drawn as learning curves into --curves (a PNG). Prints one table; asserts
nothing. Results and method are kept in docs/benchmarks.md.

    python benchmarks/bench_envs.py [--steps 2000] [--rounds 3] [--episodes 10]
    python benchmarks/bench_envs.py --train [--budget 20000] [--jobs 2] [--curves docs/images/learning-curves.png]
"""

from __future__ import annotations

import argparse
import csv
import json
import re
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import gymnasium
import numpy as np

import blendgym  # noqa: F401  (registers the blendgym/... ids)

from fresh import measurement, tight_loop

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "runs" / "bench_envs"  # the trainings' models and Monitor files, and the curves by default
# Each blendgym env and the MuJoCo env users would compare it with (None: no counterpart).
PAIRS: list[tuple[str, str | None]] = [
    ("blendgym/Reacher-v0", "Reacher-v5"),
    ("blendgym/InvertedDoublePendulum-v0", "InvertedDoublePendulum-v5"),
    ("blendgym/Pusher-v0", "Pusher-v5"),
    ("blendgym/BallBalance-v0", None),
]


def measure(env_id: str, mode: str, steps: int, episodes: int, seed: int) -> dict[str, float]:
    """One measurement, in this (fresh) process: steps/s of ``mode`` ("single" or "pool"), and for "single"
    the random policy's mean return over ``episodes`` episodes."""
    rng = np.random.default_rng(seed)
    result: dict[str, float] = {}
    if mode == "single":
        env = gymnasium.make(env_id)
        env.action_space.seed(seed)
        returns = []
        env.reset(seed=seed)
        for _ in range(episodes):
            total, done = 0.0, False
            while not done:
                _, reward, terminated, truncated, _ = env.step(env.action_space.sample())
                total += float(reward)
                done = terminated or truncated
            returns.append(total)
            env.reset()
        result["random_return"] = float(np.mean(returns))
        actions = rng.uniform(env.action_space.low, env.action_space.high, (steps, *env.action_space.shape)).astype(env.action_space.dtype)
        env.reset(seed=seed)
        result["steps_per_s"] = tight_loop(env, actions)
        env.close()
    else:
        vectorization = "vector_entry_point" if env_id.startswith("blendgym/") else "async"
        envs = gymnasium.make_vec(env_id, num_envs=2, vectorization_mode=vectorization)
        space = envs.action_space
        actions = rng.uniform(space.low, space.high, (steps // 2, *space.shape)).astype(space.dtype)
        envs.reset(seed=seed)
        for action in actions[:50]:  # warm-up: the processes are up and stepping
            envs.step(action)
        start = time.perf_counter()
        for action in actions:
            envs.step(action)  # autoreset (gymnasium's next-step mode) starts new episodes
        result["steps_per_s"] = 2 * len(actions) / (time.perf_counter() - start)
        envs.close()
    return result


def train(env_id: str, budget: int, out: Path) -> dict[str, float]:
    """agents/train_sac.py on ``env_id`` for ``budget`` steps, in a fresh process: the trained mean return.
    Its Monitor file, every training episode's return, lands in ``out``."""
    done = subprocess.run(
        [sys.executable, str(ROOT / "agents" / "train_sac.py"), env_id, "--timesteps", str(budget), "--out", str(out)],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise RuntimeError(f"agents/train_sac.py {env_id} exited with code {done.returncode}:\n{done.stderr[-3000:]}")
    trained = re.search(r"evaluation over \d+ episodes: mean return (-?[\d.]+)", done.stdout)
    if trained is None:
        raise RuntimeError(f"agents/train_sac.py {env_id} printed no evaluation:\n{done.stdout[-3000:]}")
    speed = re.search(r"trained \d+ steps in .*", done.stdout)
    print(f"{env_id}: {speed.group(0) if speed else 'trained'}, mean return {trained.group(1)}", file=sys.stderr, flush=True)
    return {"trained_return": float(trained.group(1))}


def episode_returns(monitor_file: Path) -> tuple[np.ndarray, np.ndarray]:
    """The steps trained at the end of each training episode and that episode's return, from a Monitor file
    (a JSON header line, then ``r,l,t`` per episode)."""
    with monitor_file.open() as lines:
        next(lines)
        rows = list(csv.DictReader(lines))
    return np.cumsum([int(row["l"]) for row in rows]), np.array([float(row["r"]) for row in rows])


def draw_curves(out: Path, random_return: dict[str, float], path: Path) -> None:
    """One panel per task: each simulator's training returns (a moving mean over 10 episodes) against steps,
    with the random policy's mean return and the env's threshold as lines."""
    import matplotlib

    matplotlib.use("Agg")  # files only: no display, and the caller's backend untouched
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, len(PAIRS), figsize=(4.2 * len(PAIRS), 3.4))
    for axis, (blendgym_id, mujoco_id) in zip(axes, PAIRS, strict=True):
        for env_id, colour in ((blendgym_id, "tab:orange"), (mujoco_id, "tab:blue")):
            if env_id is None:
                continue
            steps, returns = episode_returns(out / f"{env_id.replace('/', '_')}.monitor.csv")
            window = min(10, len(returns))
            smoothed = np.convolve(returns, np.ones(window) / window, mode="valid")
            axis.plot(steps[window - 1 :], smoothed, color=colour, label=env_id)
            axis.axhline(random_return[env_id], color=colour, linestyle=":", linewidth=1)
        threshold = gymnasium.spec(blendgym_id).reward_threshold
        axis.axhline(threshold, color="grey", linestyle="--", linewidth=1, label=f"threshold {threshold:g}")
        axis.set_title(blendgym_id.removeprefix("blendgym/").removesuffix("-v0"))
        axis.set_xlabel("training steps")
        axis.legend(fontsize=7, loc="lower right")
    axes[0].set_ylabel("episode return (mean of 10; dotted: random)")
    figure.suptitle("SAC (stable-baselines3, defaults, 1,000 random steps first): blendgym against MuJoCo")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=2000, help="steps per speed measurement")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of measurements; the table shows medians")
    parser.add_argument("--episodes", type=int, default=10, help="episodes of random actions per env")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--train", action="store_true", help="also train SAC on every env (5 to 6.5 minutes per env at 20,000 steps on 2 cores)")
    parser.add_argument("--budget", type=int, default=20_000, help="SAC's training steps with --train")
    parser.add_argument("--jobs", type=int, default=1, help="trainings at once with --train")
    parser.add_argument("--curves", type=Path, default=OUT / "learning-curves.png", help="the learning curves' PNG with --train")
    parser.add_argument("--measure", nargs=2, metavar=("ENV_ID", "MODE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print("RESULT " + json.dumps(measure(args.measure[0], args.measure[1], args.steps, args.episodes, args.seed)))
        return

    env_ids = [env_id for pair in PAIRS for env_id in pair if env_id is not None]
    runs: dict[tuple[str, str], list[dict[str, float]]] = {(env_id, mode): [] for env_id in env_ids for mode in ("single", "pool")}
    for _ in range(args.rounds):
        for env_id in env_ids:
            for mode in ("single", "pool"):
                command = [
                    sys.executable,
                    __file__,
                    "--measure",
                    env_id,
                    mode,
                    "--steps",
                    str(args.steps),
                    "--episodes",
                    str(args.episodes),
                    "--seed",
                    str(args.seed),
                ]
                runs[env_id, mode].append(measurement(command, marker="RESULT "))
    with ThreadPoolExecutor(max_workers=args.jobs) as trainings:
        trained = dict(zip(env_ids, trainings.map(lambda env_id: train(env_id, args.budget, OUT), env_ids), strict=True)) if args.train else {}

    def median(env_id: str, mode: str, key: str) -> float:
        return statistics.median(run[key] for run in runs[env_id, mode])

    print(f"blendgym env library against MuJoCo through gymnasium: {args.steps} steps per speed measurement, median of {args.rounds} rounds")
    header = f"{'env':<36} {'1 env, steps/s':>15} {'pool of 2':>10} {'vs MuJoCo':>10} {'random return':>14}"
    if args.train:
        header += f" {'SAC ' + str(args.budget):>11} {'normalised':>11} {'vs MuJoCo':>10}"
    print(header)
    for blendgym_id, mujoco_id in PAIRS:
        ids = [env_id for env_id in (blendgym_id, mujoco_id) if env_id is not None]
        speed = {env_id: median(env_id, "single", "steps_per_s") for env_id in ids}
        random_return = {env_id: median(env_id, "single", "random_return") for env_id in ids}
        normalised = {}
        for env_id in ids if args.train else []:
            threshold = gymnasium.spec(env_id).reward_threshold
            assert threshold is not None
            normalised[env_id] = (trained[env_id]["trained_return"] - random_return[env_id]) / (threshold - random_return[env_id])
        for env_id in ids:
            # The ratios to the counterpart stand on the blendgym env's row.
            counterpart = mujoco_id if env_id == blendgym_id else None
            speed_ratio = f"{speed[env_id] / speed[counterpart]:.2f}x" if counterpart is not None else ""
            line = (
                f"{env_id:<36} {speed[env_id]:>15.0f} {median(env_id, 'pool', 'steps_per_s'):>10.0f} {speed_ratio:>10} {random_return[env_id]:>14.1f}"
            )
            if args.train:
                score_ratio = f"{normalised[env_id] / normalised[counterpart]:.2f}" if counterpart is not None and normalised[counterpart] else ""
                line += f" {trained[env_id]['trained_return']:>11.1f} {normalised[env_id]:>11.3f} {score_ratio:>10}"
            print(line)
    if args.train:
        draw_curves(OUT, {env_id: median(env_id, "single", "random_return") for env_id in env_ids}, args.curves)
        print(f"learning curves: {args.curves}")


if __name__ == "__main__":
    sys.exit(main())
