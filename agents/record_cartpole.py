"""Record mp4 videos of a trained PPO policy on blendgym/CartPole-v0, rendered by Blender.

Loads the model that agents/train_cartpole.py saved, runs --episodes episodes with the deterministic
policy in one env made with ``render_mode="rgb_array"``, and lets gymnasium's RecordVideo write one mp4 per
episode from ``env.render()`` (the scene camera's image, --width × --height, --renderer path).

    python agents/record_cartpole.py [--model runs/cartpole/ppo_cartpole.zip] [--out runs/cartpole/videos]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import gymnasium
from gymnasium.wrappers import RecordVideo
from stable_baselines3 import PPO

import blendgym  # noqa: F401  (registers the blendgym/... ids)

ENV_ID = "blendgym/CartPole-v0"

parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
parser.add_argument("--model", type=Path, default=Path("runs/cartpole/ppo_cartpole.zip"))
parser.add_argument("--out", type=Path, default=Path("runs/cartpole/videos"))
parser.add_argument("--episodes", type=int, default=1)
parser.add_argument("--width", type=int, default=640)
parser.add_argument("--height", type=int, default=480)
parser.add_argument("--renderer", default="workbench", help="fast, workbench, quality (anti-aliased, ~10x slower), cycles or eevee")
parser.add_argument("--seed", type=int, default=0)
parser.add_argument("--blender", default=None, help="a Blender executable instead of the embedded bpy module")
args = parser.parse_args()

model = PPO.load(args.model, device="cpu")
env = gymnasium.make(ENV_ID, render_mode="rgb_array", renderer=args.renderer, width=args.width, height=args.height, blender=args.blender)
env = RecordVideo(env, str(args.out), name_prefix="cartpole", episode_trigger=lambda episode: True)

for episode in range(args.episodes):
    observation, _ = env.reset(seed=args.seed + episode)
    episode_return, done = 0.0, False
    while not done:
        action, _ = model.predict(observation, deterministic=True)
        observation, reward, terminated, truncated, _ = env.step(action)
        episode_return += float(reward)
        done = terminated or truncated
    print(f"episode {episode}: return {episode_return:.0f}")
env.close()

print(f"videos written to {args.out}: {', '.join(sorted(path.name for path in args.out.glob('*.mp4')))}")
