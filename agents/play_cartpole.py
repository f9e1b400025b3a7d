"""Watch a trained PPO policy balance the pole live, in Blender's own window.

Loads the model that agents/train_cartpole.py saved and plays it with the deterministic policy, episode
after episode, in an env made with ``render_mode="human"``: Blender opens its window and shows every step
as it happens, paced at the env's 50 steps per second (``--no-real-time``: as fast as the window draws).
It stops after --episodes episodes, when the window is closed, or on Ctrl-C.

    python agents/play_cartpole.py [--model runs/cartpole/ppo_cartpole.zip] [--blender /path/to/blender]

With --attach it plays in a Blender you opened yourself, where you started the server from its Python
console (the line comes from ``python -m blendgym console-line blendgym_envs.cartpole:CartPole``).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import gymnasium
from PIL import Image
from stable_baselines3 import PPO

import blendgym

ENV_ID = "blendgym/CartPole-v0"

parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
parser.add_argument("--model", type=Path, default=Path("runs/cartpole/ppo_cartpole.zip"))
parser.add_argument("--episodes", type=int, default=0, help="stop after this many episodes (0: until the window is closed)")
parser.add_argument("--blender", default=None, help="the Blender executable that opens the window (default: blender on PATH)")
parser.add_argument("--attach", default=None, metavar="ADDRESS", help="play in a Blender you started, e.g. tcp://127.0.0.1:5710")
parser.add_argument("--no-real-time", dest="real_time", action="store_false", help="step as fast as the window redraws")
parser.add_argument("--screenshot", type=Path, default=None, help="save the window at the end of each episode here (PNG)")
parser.add_argument("--seed", type=int, default=0)
args = parser.parse_args()

model = PPO.load(args.model, device="cpu")
if args.attach:
    env = gymnasium.wrappers.TimeLimit(blendgym.attach(args.attach), max_episode_steps=500)
else:
    env = gymnasium.make(ENV_ID, render_mode="human", blender=args.blender, real_time=args.real_time)

episode = 0
try:
    while args.episodes == 0 or episode < args.episodes:
        observation, _ = env.reset(seed=args.seed + episode)
        episode_return, done = 0.0, False
        while not done:
            action, _ = model.predict(observation, deterministic=True)
            observation, reward, terminated, truncated, _ = env.step(action)
            episode_return += float(reward)
            done = terminated or truncated
        print(f"episode {episode}: return {episode_return:.0f}", flush=True)
        if args.screenshot is not None:
            Image.fromarray(env.unwrapped.screenshot().image).save(args.screenshot)
        episode += 1
except blendgym.BlenderProcessDied:
    print("the Blender window was closed")
except KeyboardInterrupt:
    print("stopped")
finally:
    env.close()
