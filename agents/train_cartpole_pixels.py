"""Train PPO with a CNN (stable-baselines3 ``CnnPolicy``) on blendgym/CartPolePixels-v0: CartPole from camera images only.

The observations are 84×84 RGB images drawn by Blender's fast renderer (``obs_mode="pixels"``), four
consecutive frames stacked so that the network can see motion. A short run does not balance the pole for
500 steps, but it learns something measurable: the script evaluates a random policy and the trained
policy on the same images and reports both mean returns.

    python agents/train_cartpole_pixels.py [--timesteps 40000] [--n-envs 2] [--out runs/cartpole_pixels]

--randomize cart_colour sky_colour camera_x ... draws those parameters of the env at every reset, in training
and evaluation alike (domain randomisation, docs/envs.md).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch
from stable_baselines3 import PPO
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.vec_env import VecEnv, VecFrameStack

import blendgym  # noqa: F401  (registers the blendgym/... ids)
from blendgym.sb3 import make_vec_env

ENV_ID = "blendgym/CartPolePixels-v0"
EVAL_EPISODES = 20

parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
parser.add_argument("--timesteps", type=int, default=40_000, help="training steps")
parser.add_argument("--n-envs", type=int, default=2, help="Blender processes in the training pool")
parser.add_argument("--size", type=int, default=84, help="image width and height in pixels")
parser.add_argument("--seed", type=int, default=1)
parser.add_argument("--out", type=Path, default=Path("runs/cartpole_pixels"))
parser.add_argument("--blender", default=None, help="a Blender executable instead of the embedded bpy module")
parser.add_argument("--randomize", nargs="*", default=[], metavar="PARAMETER", help="env parameters drawn at every reset")
args = parser.parse_args()

# The README's advice for small policies on few cores ("Speed"): torch's other threads would wait for
# the cores the Blender processes hold.
torch.set_num_threads(1)
pixels = {"width": args.size, "height": args.size, "blender": args.blender}


def mean_return(env: VecEnv, act, episodes: int) -> float:
    """The mean undiscounted return of ``act(observations)`` over ``episodes`` finished episodes."""
    returns: list[float] = []
    running = np.zeros(env.num_envs)
    observations = env.reset()
    while len(returns) < episodes:
        observations, rewards, dones, _ = env.step(act(observations))
        running += rewards
        for index in np.flatnonzero(dones):
            returns.append(float(running[index]))
            running[index] = 0.0
    return float(np.mean(returns[:episodes]))


class EpisodeReturns(BaseCallback):
    """Keeps the return of every training episode (VecMonitor's ``info["episode"]``), in the order they end."""

    def __init__(self) -> None:
        super().__init__()
        self.returns: list[float] = []

    def _on_step(self) -> bool:
        self.returns += [info["episode"]["r"] for info in self.locals["infos"] if "episode" in info]
        return True


# 1. Environments: a pool of Blender processes rendering images, stacked four frames deep.


def make_env(seed: int) -> VecEnv:
    venv = make_vec_env(ENV_ID, n_envs=args.n_envs, seed=seed, **pixels)
    if args.randomize:
        venv.set_options({"randomize": args.randomize})  # lasts: every later reset draws them again
    return VecFrameStack(venv, n_stack=4)


train_env = make_env(args.seed)
eval_env = make_env(args.seed + 1000)
rng = np.random.default_rng(args.seed)
random_return = mean_return(eval_env, lambda observations: rng.integers(0, 2, size=len(observations)), EVAL_EPISODES)
print(f"random policy: mean return {random_return:.1f} over {EVAL_EPISODES} episodes", flush=True)

# 2. PPO with the CNN of the Atari papers (SB3's NatureCNN), on short rollouts.
model = PPO(
    "CnnPolicy",
    train_env,
    n_steps=256,
    batch_size=64,
    n_epochs=10,
    gamma=0.98,
    gae_lambda=0.9,
    learning_rate=2.5e-4,
    clip_range=0.2,
    ent_coef=0.01,
    seed=args.seed,
    verbose=0,
)

# 3. Train, then evaluate the deterministic policy on the same kind of images.
start = time.perf_counter()
training = EpisodeReturns()
model.learn(total_timesteps=args.timesteps, callback=training)
train_seconds = time.perf_counter() - start
trained_return = mean_return(eval_env, lambda observations: model.predict(observations, deterministic=True)[0], EVAL_EPISODES)

args.out.mkdir(parents=True, exist_ok=True)
model.save(args.out / "ppo_cartpole_pixels.zip")
train_env.close()
eval_env.close()

print(f"trained {model.num_timesteps} steps from {args.size}x{args.size} images in {train_seconds:.0f} s")
# The training episodes' returns, first and last fifth: the policy as it explores (the evaluation below is
# of the deterministic policy, which improves later).
fifth = max(1, len(training.returns) // 5)
early, late = np.mean(training.returns[:fifth]), np.mean(training.returns[-fifth:])
print(f"training episodes: {len(training.returns)}; mean return of the first {fifth}: {early:.1f}, of the last {fifth}: {late:.1f}")
print(f"trained policy: mean return {trained_return:.1f}; random policy: {random_return:.1f} ({trained_return / random_return:.2f}x)")
