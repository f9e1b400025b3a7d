"""Train SAC (stable-baselines3) on one of blendgym's continuous-control tasks, or on a MuJoCo task itself.

blendgym/Reacher-v0, blendgym/InvertedDoublePendulum-v0 and blendgym/Pusher-v0 follow gymnasium's
Reacher-v5, InvertedDoublePendulum-v5 and Pusher-v5 (docs/envs.md); this script trains the same SAC, with
the same settings and budget, on either of a pair, so that the two can be compared. blendgym/BallBalance-v0
(a plate keeps a rolling ball at a target) has no MuJoCo counterpart. It first measures a uniformly random policy, then trains
for --timesteps steps, then evaluates the deterministic policy over --eval-episodes episodes, and prints
both returns and the normalised score (trained − random) / (threshold − random), where the threshold is the
env's reward threshold (-3.75 for Reacher, 9,100 for InvertedDoublePendulum, 0 for Pusher, 150 for
BallBalance). It saves the model, and every training episode's return and length in a Monitor file
(`<out>/<env>.monitor.csv`), from which benchmarks/bench_envs.py draws the learning curves.

    python agents/train_sac.py blendgym/Reacher-v0 [--timesteps 20000] [--out runs/sac]
    python agents/train_sac.py Reacher-v5          # gymnasium's MuJoCo env: pip install mujoco
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import gymnasium
import numpy as np
import torch
from stable_baselines3 import SAC
from stable_baselines3.common.evaluation import evaluate_policy
from stable_baselines3.common.monitor import Monitor

import blendgym  # noqa: F401  (registers the blendgym/... ids)

# Each task's default budget: the same for a blendgym env and its MuJoCo counterpart.
BUDGETS = {
    "blendgym/Reacher-v0": 20_000,
    "Reacher-v5": 20_000,
    "blendgym/InvertedDoublePendulum-v0": 20_000,
    "InvertedDoublePendulum-v5": 20_000,
    "blendgym/Pusher-v0": 20_000,
    "Pusher-v5": 20_000,
    "blendgym/BallBalance-v0": 20_000,
}

parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
parser.add_argument("env_id", choices=sorted(BUDGETS))
parser.add_argument("--timesteps", type=int, default=None, help="training steps (default: the task's budget above)")
parser.add_argument("--learning-starts", type=int, default=1000, help="random steps before the first update")
parser.add_argument("--eval-episodes", type=int, default=10)
parser.add_argument("--seed", type=int, default=1)
parser.add_argument("--out", type=Path, default=Path("runs/sac"))
args = parser.parse_args()
timesteps = args.timesteps or BUDGETS[args.env_id]

# The README's advice for small policies on few cores ("Speed"); set for both simulators alike.
torch.set_num_threads(1)
threshold = gymnasium.spec(args.env_id).reward_threshold

# 1. Environments: one to train in, one to evaluate in (for blendgym, each its own Blender process).
args.out.mkdir(parents=True, exist_ok=True)
run_name = args.env_id.replace("/", "_")
train_env = Monitor(gymnasium.make(args.env_id), filename=str(args.out / run_name))
eval_env = Monitor(gymnasium.make(args.env_id))

# 2. The baseline: uniformly random actions.
random_returns = []
eval_env.action_space.seed(args.seed)
for episode in range(args.eval_episodes):
    eval_env.reset(seed=10_000 + episode)
    episode_return, done = 0.0, False
    while not done:
        _, reward, terminated, truncated, _ = eval_env.step(eval_env.action_space.sample())
        episode_return += float(reward)
        done = terminated or truncated
    random_returns.append(episode_return)
random_return = float(np.mean(random_returns))
print(f"random actions: mean return {random_return:.2f} over {args.eval_episodes} episodes", flush=True)

# 3. SAC at SB3's defaults, but for the random steps before learning starts: 1,000 rather than 100, for a
# broader first buffer; the same for both simulators.
model = SAC("MlpPolicy", train_env, learning_starts=args.learning_starts, seed=args.seed, device="cpu", verbose=0)
start = time.perf_counter()
model.learn(total_timesteps=timesteps)
elapsed = time.perf_counter() - start
print(f"trained {timesteps} steps in {elapsed:.0f} s ({timesteps / elapsed:.0f} steps/s)", flush=True)

# 4. Evaluation of the deterministic policy; seeded, so that it repeats.
eval_env.reset(seed=20_000)
mean, std = evaluate_policy(model, eval_env, n_eval_episodes=args.eval_episodes, deterministic=True)
normalised = (mean - random_return) / (threshold - random_return)
print(f"evaluation over {args.eval_episodes} episodes: mean return {mean:.2f} ± {std:.2f} (threshold {threshold:g})", flush=True)
print(f"normalised score (trained − random) / (threshold − random): {normalised:.3f}", flush=True)
model.save(args.out / f"sac_{run_name}")
train_env.close()
eval_env.close()
