"""Train SAC (stable-baselines3) on blendgym/Pendulum-v0: swing a rod up with a weak hinge motor and hold it.

The env is one Blender process simulating the rod with rigid-body physics; its action is a continuous
torque. The script first measures random actions, then trains SAC for --timesteps steps, then evaluates the
deterministic policy over --eval-episodes episodes. Solved means a mean return of at least -400 (the env's
reward threshold), which random actions (about -1,200) do not reach. It saves the model.

    python agents/train_pendulum.py [--timesteps 12000] [--out runs/pendulum]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import gymnasium
import numpy as np
import torch
from stable_baselines3 import SAC
from stable_baselines3.common.evaluation import evaluate_policy
from stable_baselines3.common.monitor import Monitor

import blendgym  # noqa: F401  (registers the blendgym/... ids)

ENV_ID = "blendgym/Pendulum-v0"

parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
parser.add_argument("--timesteps", type=int, default=12_000, help="training steps (60 episodes of 200)")
parser.add_argument("--eval-episodes", type=int, default=10)
parser.add_argument("--seed", type=int, default=1)
parser.add_argument("--out", type=Path, default=Path("runs/pendulum"))
parser.add_argument("--blender", default=None, help="a Blender executable instead of the embedded bpy module")
args = parser.parse_args()

# The README's advice for small policies on few cores ("Speed"): torch's other threads would wait for
# the cores the Blender processes hold.
torch.set_num_threads(1)
threshold = gymnasium.spec(ENV_ID).reward_threshold

# 1. Environments: one Blender process to train in, one to evaluate in.
train_env = Monitor(gymnasium.make(ENV_ID, blender=args.blender))
eval_env = Monitor(gymnasium.make(ENV_ID, blender=args.blender))

# 2. The baseline: uniformly random torques.
rng = np.random.default_rng(args.seed)
random_returns = []
for episode in range(args.eval_episodes):
    eval_env.reset(seed=10_000 + episode)
    episode_return, done = 0.0, False
    while not done:
        _, reward, terminated, truncated, _ = eval_env.step(rng.uniform(-2.0, 2.0, size=1).astype(np.float32))
        episode_return += float(reward)
        done = terminated or truncated
    random_returns.append(episode_return)
print(f"random actions: mean return {np.mean(random_returns):.1f} over {args.eval_episodes} episodes", flush=True)

# 3. SAC with the RL Zoo's Pendulum settings (learning rate 1e-3, the rest SB3's defaults).
model = SAC("MlpPolicy", train_env, learning_rate=1e-3, seed=args.seed, device="cpu", verbose=0)
start = time.perf_counter()
model.learn(total_timesteps=args.timesteps)
elapsed = time.perf_counter() - start
print(f"trained {args.timesteps} steps in {elapsed:.0f} s ({args.timesteps / elapsed:.0f} steps/s)", flush=True)

# 4. Evaluation of the deterministic policy.
mean, std = evaluate_policy(model, eval_env, n_eval_episodes=args.eval_episodes, deterministic=True)
print(f"evaluation over {args.eval_episodes} episodes: mean return {mean:.1f} ± {std:.1f} (threshold {threshold:g})", flush=True)
args.out.mkdir(parents=True, exist_ok=True)
model.save(args.out / "sac_pendulum")
train_env.close()
eval_env.close()
if mean < threshold:
    print("NOT SOLVED", flush=True)
    sys.exit(1)
print("SOLVED", flush=True)
