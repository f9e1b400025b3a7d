"""Train PPO (Ray RLlib, new API stack) on blendgym/CartPole-v0 with env runners that each own a pool of
Blender processes, until the mean episode return reaches 450.

Each of --env-runners RLlib env runners (Ray actors, on whatever nodes of the cluster have a free CPU)
makes one blendgym pool of --envs-per-runner Blender processes on its own node; the learner runs in this
process. Without --address, Ray starts a single-node cluster on this machine; with it, the script joins a
running cluster (docs/scale.md). A Blender that dies is restarted inside its pool and counted in
``blender_restarts``. Needs the rllib extra: pip install "blendgym[rllib]".

    python agents/train_rllib.py [--env-runners 2] [--envs-per-runner 2] [--target 450] [--address auto]
"""

from __future__ import annotations

import argparse
import time

import ray
from ray.rllib.algorithms.ppo import PPOConfig
from ray.rllib.core.rl_module.default_model_config import DefaultModelConfig

import blendgym.rllib

ENV_ID = "blendgym/CartPole-v0"

parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
parser.add_argument("--env-runners", type=int, default=2, help="RLlib env runners (Ray actors)")
parser.add_argument("--envs-per-runner", type=int, default=2, help="Blender processes in each runner's pool")
parser.add_argument("--target", type=float, default=450.0, help="stop once the mean episode return reaches this")
parser.add_argument("--max-timesteps", type=int, default=400_000, help="give up after this many env steps")
parser.add_argument("--seed", type=int, default=1)
parser.add_argument("--address", default=None, help="a running Ray cluster's address (e.g. auto); default: start one here")
args = parser.parse_args()

# 1. Ray, and blendgym's env ids as Ray Tune env names (config.environment below accepts them).
ray.init(address=args.address)
blendgym.rllib.register_envs()

# 2. PPO: each runner steps its pool as one vector env (vector_entry_point); faults are handled in layers
# (blendgym.rllib): a Blender restart inside the pool, a new pool, a new runner.
config = (
    PPOConfig()
    .environment(ENV_ID)
    .env_runners(
        num_env_runners=args.env_runners,
        num_envs_per_env_runner=args.envs_per_runner,
        gym_env_vectorize_mode="vector_entry_point",
    )
    .fault_tolerance(restart_failed_sub_environments=True)
    .callbacks(blendgym.rllib.BlenderMetrics)
    .training(lr=3e-4, gamma=0.99, train_batch_size_per_learner=4000, minibatch_size=128, num_epochs=10, vf_loss_coeff=0.01)
    .rl_module(model_config=DefaultModelConfig(fcnet_hiddens=[64, 64], fcnet_activation="tanh", vf_share_layers=False))
    .debugging(seed=args.seed)
)
algo = config.build_algo()

# 3. Train until the mean return of the runners' recent episodes reaches the target.
start = time.perf_counter()
mean_return, steps = 0.0, 0
while mean_return < args.target and steps < args.max_timesteps:
    result = algo.train()
    runners = result["env_runners"]
    mean_return = runners.get("episode_return_mean", 0.0)
    steps = int(runners["num_env_steps_sampled_lifetime"])
    print(
        f"{steps:>7} steps: mean return {mean_return:6.1f}, "
        f"{steps / (time.perf_counter() - start):5.0f} steps/s, Blender restarts {runners.get('blender_restarts', 0):.0f}",
        flush=True,
    )

# 4. Report, and end the runners (and with them every Blender process).
algo.stop()
ray.shutdown()
print(
    f"{'reached' if mean_return >= args.target else 'did not reach'} mean return {args.target:g}: "
    f"{mean_return:.1f} after {steps} steps in {time.perf_counter() - start:.0f} s"
)
raise SystemExit(0 if mean_return >= args.target else 1)
