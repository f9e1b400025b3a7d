"""Train PPO (stable-baselines3) on blendgym/CartPole-v0 until it balances the pole.

Every environment here is a Blender process simulating the cart-pole with rigid-body physics; the
training envs are one pool (blendgym.sb3.make_vec_env), stepped together from this process.
The loop trains for --eval-every steps, then evaluates the deterministic policy over 20 episodes, and
stops once their mean return reaches 475 (the env's reward threshold); then it saves the model.

    python agents/train_cartpole.py [--n-envs 2] [--max-timesteps 300000] [--out runs/cartpole]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import gymnasium
import torch
from stable_baselines3 import PPO
from stable_baselines3.common.evaluation import evaluate_policy
from stable_baselines3.common.monitor import Monitor

import blendgym  # noqa: F401  (registers the blendgym/... ids)
from blendgym.sb3 import make_vec_env

ENV_ID = "blendgym/CartPole-v0"
EVAL_EPISODES = 20

parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
parser.add_argument("--n-envs", type=int, default=2, help="Blender processes in the training pool")
parser.add_argument("--max-timesteps", type=int, default=300_000, help="give up after this many steps")
parser.add_argument("--eval-every", type=int, default=10_000, help="evaluate every this many steps")
parser.add_argument("--seed", type=int, default=1)
parser.add_argument("--out", type=Path, default=Path("runs/cartpole"))
parser.add_argument("--blender", default=None, help="a Blender executable instead of the embedded bpy module")
parser.add_argument("--no-progress-bar", action="store_true")
args = parser.parse_args()

# The README's advice for small policies on few cores ("Speed"): torch's other threads would wait for
# the cores the Blender processes hold.
torch.set_num_threads(1)
env_kwargs = {"blender": args.blender}

# 1. Environments: a pool of n_envs Blender processes for training, one more process for evaluation.
train_env = make_vec_env(ENV_ID, n_envs=args.n_envs, seed=args.seed, **env_kwargs)
eval_env = Monitor(gymnasium.make(ENV_ID, **env_kwargs))
threshold = gymnasium.spec(ENV_ID).reward_threshold
assert threshold is not None

# 2. PPO with the rl-zoo hyperparameters for CartPole (constant rates: training runs in open-ended turns).
model = PPO(
    "MlpPolicy",
    train_env,
    n_steps=max(32, 256 // args.n_envs),
    batch_size=256,
    gae_lambda=0.8,
    gamma=0.98,
    n_epochs=20,
    ent_coef=0.0,
    learning_rate=1e-3,
    clip_range=0.2,
    seed=args.seed,
    verbose=0,
)

# 3. Train and evaluate in turns until the evaluation reaches the threshold.
start = time.perf_counter()
mean_return, std_return = 0.0, 0.0
while mean_return < threshold and model.num_timesteps < args.max_timesteps:
    model.learn(total_timesteps=args.eval_every, reset_num_timesteps=False, progress_bar=not args.no_progress_bar)
    mean_return, std_return = evaluate_policy(model, eval_env, n_eval_episodes=EVAL_EPISODES, deterministic=True)
    print(f"{model.num_timesteps:>7} steps: evaluation mean return {mean_return:.1f} ± {std_return:.1f}", flush=True)
train_seconds = time.perf_counter() - start

# 4. Save and report.
args.out.mkdir(parents=True, exist_ok=True)
model_path = args.out / "ppo_cartpole.zip"
model.save(model_path)
train_env.close()
eval_env.close()

print(f"trained {model.num_timesteps} steps in {train_seconds:.0f} s; model saved to {model_path}")
print(f"evaluation over {EVAL_EPISODES} episodes: mean return {mean_return:.1f} ± {std_return:.1f} (threshold {threshold:g})")
solved = mean_return >= threshold
print("SOLVED" if solved else "NOT SOLVED: raise --max-timesteps or change --seed")
sys.exit(0 if solved else 1)
