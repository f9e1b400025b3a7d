"""Env steps per second, and per CPU, under Ray RLlib beside stable-baselines3, on blendgym/CartPole-v0 and on
gymnasium's CartPole-v1, with 4 envs in each trainer.

Method: every measurement runs in a fresh Python process and times the trainer alone (policy updates
included, start-up excluded) over at least --steps env steps:

- *RLlib PPO*: agents/train_rllib.py's configuration (new API stack, 2 env runners × 2 envs,
  ``gym_env_vectorize_mode="vector_entry_point"`` for blendgym, so that each runner steps one pool of 2
  Blender processes; 4,000-step batches, 10 epochs of 128-step minibatches), on a single-node Ray started
  by the measurement with as many CPUs as the machine has; ``algo.train()`` until the steps are sampled;
- *SB3 PPO*: ``PPO("MlpPolicy", venv, n_steps=1024)`` with 4 envs: ``blendgym.sb3.make_vec_env(n_envs=4)``
  for blendgym (one pool of 4 Blender processes), SB3's ``DummyVecEnv`` of 4 for CartPole-v1.

Both trainers run at torch's default threads. "per CPU" divides by the CPUs of the machine, which every
contender may use. Contenders take turns: each round runs every contender once, in the same order; the
table shows medians over --rounds rounds, and each row's ratio to the same trainer on CartPole-v1. Prints
one table; asserts nothing. Results and method are kept in docs/benchmarks.md. Needs the rllib and train
extras in one environment (``pip install -e ".[blender,rllib,train]"``, as in .venv-rllib).

    python benchmarks/bench_rllib.py [--rounds 2] [--steps 20000]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time

from fresh import measurement

GYM_ID = "CartPole-v1"
BLENDGYM_ID = "blendgym/CartPole-v0"
CONTENDERS = [("RLlib PPO, 2 runners x 2 envs", "rllib"), ("SB3 PPO, 4 envs", "sb3")]


def rllib_ppo(env_id: str, steps: int) -> float:
    import ray
    from ray.rllib.algorithms.ppo import PPOConfig
    from ray.rllib.core.rl_module.default_model_config import DefaultModelConfig

    import blendgym.rllib

    ray.init(address="local", include_dashboard=False, log_to_driver=False)
    blendgym.rllib.register_envs()
    config = (
        PPOConfig()
        .environment(env_id)
        .env_runners(
            num_env_runners=2,
            num_envs_per_env_runner=2,
            gym_env_vectorize_mode="vector_entry_point" if env_id == BLENDGYM_ID else "sync",
        )
        .training(lr=3e-4, gamma=0.99, train_batch_size_per_learner=4000, minibatch_size=128, num_epochs=10, vf_loss_coeff=0.01)
        .rl_module(model_config=DefaultModelConfig(fcnet_hiddens=[64, 64], fcnet_activation="tanh", vf_share_layers=False))
    )
    algo = config.build_algo()
    try:
        algo.train()  # warm-up: the runners' first sample and the learner's first update
        first = algo.train()["env_runners"]["num_env_steps_sampled_lifetime"]
        start, sampled = time.perf_counter(), first
        while sampled - first < steps:
            sampled = algo.train()["env_runners"]["num_env_steps_sampled_lifetime"]
        return (sampled - first) / (time.perf_counter() - start)
    finally:
        algo.stop()
        ray.shutdown()


def sb3_ppo(env_id: str, steps: int) -> float:
    from stable_baselines3 import PPO

    if env_id == BLENDGYM_ID:
        from blendgym.sb3 import make_vec_env

        venv = make_vec_env(env_id, n_envs=4)
    else:
        from stable_baselines3.common.env_util import make_vec_env as sb3_make_vec_env

        venv = sb3_make_vec_env(env_id, n_envs=4)
    try:
        model = PPO("MlpPolicy", venv, n_steps=1024, seed=0, verbose=0)
        model.learn(1024 * 4)  # warm-up: one rollout and one update
        start = time.perf_counter()
        model.learn(steps, reset_num_timesteps=False)
        return steps / (time.perf_counter() - start)
    finally:
        venv.close()


def measure(trainer: str, env_id: str, steps: int) -> float:
    """One measurement in a fresh process."""
    command = [sys.executable, __file__, "--measure", trainer, "--env-id", env_id, "--steps", str(steps)]
    return float(measurement(command)["rate"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--steps", type=int, default=20_000, help="env steps each measurement times at least (the recorded table: 40000)")
    parser.add_argument("--measure", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--env-id", default=BLENDGYM_ID, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure is not None:
        import blendgym  # noqa: F401  (registers the blendgym ids)

        run = rllib_ppo if args.measure == "rllib" else sb3_ppo
        print(json.dumps({"rate": run(args.env_id, args.steps)}))
        return

    rows = [(trainer, env_id) for _, trainer in CONTENDERS for env_id in (GYM_ID, BLENDGYM_ID)]
    rates: dict[tuple[str, str], list[float]] = {row: [] for row in rows}
    for round_index in range(args.rounds):
        for row in rows:
            rates[row].append(measure(*row, args.steps))
        print(f"round {round_index + 1} of {args.rounds} done", file=sys.stderr)
    cpus = len(os.sched_getaffinity(0))
    print(f"Env steps per second while training (median of {args.rounds} rounds, >= {args.steps} steps each); {cpus} CPUs")
    print(f"{'trainer':<32} {'env':<22} {'steps/s':>8} {'per CPU':>8} {'vs CartPole-v1':>15}")
    for name, trainer in CONTENDERS:
        reference = statistics.median(rates[trainer, GYM_ID])
        for env_id in (GYM_ID, BLENDGYM_ID):
            rate = statistics.median(rates[trainer, env_id])
            print(f"{name:<32} {env_id:<22} {rate:>8.0f} {rate / cpus:>8.0f} {rate / reference:>15.2f}")


if __name__ == "__main__":
    main()
