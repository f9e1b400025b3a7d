"""Training throughput: blendgym/CartPole-v0 against gymnasium's CartPole-v1 in the trainers users run.

Method: every measurement runs in a fresh Python process that sets nothing up beyond what a user's script
would: torch at its default thread count (the "default" column) or after ``torch.set_num_threads(1)`` (the
"1 thread" column, set in gymnasium's and blendgym's runs alike), and no blendgym keyword but the env id.
It makes its envs and its trainer, then times the trainer alone, policy updates included:

- *SB3 PPO*: ``PPO("MlpPolicy", venv, n_steps=1024)`` learning --sb3-steps steps, on gymnasium's
  CartPole-v1 in SB3's ``DummyVecEnv`` of 2 (``make_vec_env``) and on blendgym/CartPole-v0 through
  ``blendgym.sb3.make_vec_env(n_envs=2)`` (the README's way), SB3's own ``make_vec_env`` with
  ``DummyVecEnv`` and ``SubprocVecEnv``, and one ``gymnasium.make`` env;
- *CleanRL-style PPO*: the loop of CleanRL's ppo.py, written below (4 envs, 128-step rollouts, 4 epochs of
  4 minibatches), over gymnasium's ``SyncVectorEnv`` of 4 ``gym.make`` envs, and over blendgym's pool
  (``gymnasium.make_vec(..., vectorization_mode="vector_entry_point")``);
- *tight loop*: random actions and nothing else, as in bench_cartpole.py and bench_pool.py, so that what
  the trainer-friendly defaults cost there is visible.

Contenders take turns: each round runs every contender once, in the same order; after --rounds rounds the
table shows each one's median rate and its ratio to the gymnasium CartPole-v1 row of the same trainer and
thread setting. "2 at once" starts two copies of a measurement together and reports the slower one's rate
over the same measurement alone. Rows marked OMP_WAIT_POLICY=PASSIVE run with that variable set, which makes
torch's OpenMP threads sleep instead of spinning between parallel regions.
Prints one table; asserts nothing. Results and method are kept in docs/benchmarks.md.

    python benchmarks/bench_training.py [--full] [--rounds 1] [--sb3-steps 4096] [--cleanrl-steps 4096] [--only NAME ...]

The default run (one round of the trainers' rows at half the steps) prints its table within 10 minutes on
2 cores; ``--full`` is the run whose table docs/benchmarks.md keeps (about 50 minutes).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import gymnasium
import numpy as np

GYM_ID = "CartPole-v1"
BLENDGYM_ID = "blendgym/CartPole-v0"
# Gymnasium's "module:id" form imports blendgym wherever the id is made, SubprocVecEnv's workers included.
BLENDGYM_MODULE_ID = f"blendgym:{BLENDGYM_ID}"


# The trainers -------------------------------------------------------------------------------------------


def sb3_ppo(make_venv: Callable[[], Any], steps: int) -> float:
    """SB3 PPO at its defaults (n_steps=1024): env steps per second of ``learn``."""
    from stable_baselines3 import PPO

    venv = make_venv()
    try:
        model = PPO("MlpPolicy", venv, n_steps=1024, seed=0, verbose=0)
        start = time.perf_counter()
        model.learn(steps)
        return steps / (time.perf_counter() - start)
    finally:
        venv.close()


def cleanrl_ppo(make_envs: Callable[[], gymnasium.vector.VectorEnv[Any, Any, Any]], steps: int) -> float:
    """CleanRL ppo.py's loop: 4 envs x 128 steps a rollout, GAE, 4 epochs of 4 minibatches; env steps per second."""
    import torch
    from torch import nn

    num_envs, num_steps, epochs, minibatches = 4, 128, 4, 4
    gamma, gae_lambda, clip, entropy_coef, value_coef, max_grad_norm = 0.99, 0.95, 0.2, 0.01, 0.5, 0.5
    torch.manual_seed(0)
    envs = gymnasium.wrappers.vector.RecordEpisodeStatistics(make_envs())
    try:
        observation_size = int(np.prod(envs.single_observation_space.shape))
        action_count = int(envs.single_action_space.n)

        def layer(inputs: int, outputs: int, std: float = np.sqrt(2)) -> nn.Linear:
            linear = nn.Linear(inputs, outputs)
            nn.init.orthogonal_(linear.weight, std)
            nn.init.constant_(linear.bias, 0.0)
            return linear

        critic = nn.Sequential(layer(observation_size, 64), nn.Tanh(), layer(64, 64), nn.Tanh(), layer(64, 1, 1.0))
        actor = nn.Sequential(layer(observation_size, 64), nn.Tanh(), layer(64, 64), nn.Tanh(), layer(64, action_count, 0.01))
        parameters = [*critic.parameters(), *actor.parameters()]
        optimizer = torch.optim.Adam(parameters, lr=2.5e-4, eps=1e-5)

        def act(observation: torch.Tensor, action: torch.Tensor | None = None) -> tuple[torch.Tensor, ...]:
            distribution = torch.distributions.Categorical(logits=actor(observation))
            if action is None:
                action = distribution.sample()
            return action, distribution.log_prob(action), distribution.entropy(), critic(observation).flatten()

        observations = torch.zeros((num_steps, num_envs, observation_size))
        actions = torch.zeros((num_steps, num_envs))
        logprobs, rewards, dones, values = (torch.zeros((num_steps, num_envs)) for _ in range(4))
        next_observation = torch.Tensor(envs.reset(seed=0)[0])
        next_done = torch.zeros(num_envs)
        iterations = max(1, steps // (num_envs * num_steps))
        start = time.perf_counter()
        for _ in range(iterations):
            for step in range(num_steps):
                observations[step], dones[step] = next_observation, next_done
                with torch.no_grad():
                    action, logprob, _, value = act(next_observation)
                values[step], actions[step], logprobs[step] = value, action, logprob
                observation, reward, terminated, truncated, _ = envs.step(action.cpu().numpy())
                rewards[step] = torch.tensor(reward).view(-1)
                next_observation, next_done = torch.Tensor(observation), torch.Tensor(np.logical_or(terminated, truncated))
            with torch.no_grad():
                next_value = critic(next_observation).reshape(1, -1)
                advantages = torch.zeros_like(rewards)
                last = torch.zeros(num_envs)
                for t in reversed(range(num_steps)):
                    not_done = 1.0 - (next_done if t == num_steps - 1 else dones[t + 1])
                    following = next_value if t == num_steps - 1 else values[t + 1]
                    delta = rewards[t] + gamma * following * not_done - values[t]
                    advantages[t] = last = delta + gamma * gae_lambda * not_done * last
                returns = advantages + values
            batch = num_envs * num_steps
            flat = (observations.reshape(batch, -1), actions.reshape(-1), logprobs.reshape(-1), advantages.reshape(-1), returns.reshape(-1))
            for _ in range(epochs):
                order = np.random.permutation(batch)
                for begin in range(0, batch, batch // minibatches):
                    index = order[begin : begin + batch // minibatches]
                    batch_observations, batch_actions, old_logprobs, batch_advantages, batch_returns = (part[index] for part in flat)
                    _, logprob, entropy, value = act(batch_observations, batch_actions.long())
                    ratio = (logprob - old_logprobs).exp()
                    batch_advantages = (batch_advantages - batch_advantages.mean()) / (batch_advantages.std() + 1e-8)
                    policy_loss = torch.max(-batch_advantages * ratio, -batch_advantages * ratio.clamp(1 - clip, 1 + clip)).mean()
                    loss = policy_loss - entropy_coef * entropy.mean() + value_coef * 0.5 * ((value - batch_returns) ** 2).mean()
                    optimizer.zero_grad()
                    loss.backward()
                    nn.utils.clip_grad_norm_(parameters, max_grad_norm)
                    optimizer.step()
        return iterations * num_envs * num_steps / (time.perf_counter() - start)
    finally:
        envs.close()


def tight_loop(make_envs: Callable[[], gymnasium.vector.VectorEnv[Any, Any, Any]], steps: int) -> float:
    """Random actions and nothing else: env steps per second."""
    envs = make_envs()
    try:
        envs.reset(seed=0)
        actions = np.random.default_rng(0).integers(0, 2, (steps // envs.num_envs, envs.num_envs))
        for action in actions[:100]:
            envs.step(action)  # warm-up
        start = time.perf_counter()
        for action in actions:
            envs.step(action)
        return actions.size / (time.perf_counter() - start)
    finally:
        envs.close()


# The envs each trainer runs on ------------------------------------------------------------------------


def sb3_venv(source: str) -> Callable[[], Any]:
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.vec_env import DummyVecEnv, SubprocVecEnv

    if source == "gym":
        return lambda: make_vec_env(GYM_ID, n_envs=2, vec_env_cls=DummyVecEnv)
    if source == "gym-1":
        return lambda: make_vec_env(GYM_ID, n_envs=1, vec_env_cls=DummyVecEnv)
    if source == "pool":
        import blendgym.sb3

        return lambda: blendgym.sb3.make_vec_env(BLENDGYM_ID, n_envs=2)
    if source == "dummy":
        return lambda: make_vec_env(BLENDGYM_MODULE_ID, n_envs=2, vec_env_cls=DummyVecEnv)
    if source == "subproc":
        return lambda: make_vec_env(BLENDGYM_MODULE_ID, n_envs=2, vec_env_cls=SubprocVecEnv)
    if source == "make":
        return lambda: make_vec_env(BLENDGYM_MODULE_ID, n_envs=1, vec_env_cls=DummyVecEnv)
    raise ValueError(source)


def vector_envs(source: str, num_envs: int) -> Callable[[], gymnasium.vector.VectorEnv[Any, Any, Any]]:
    if source == "gym":
        return lambda: gymnasium.vector.SyncVectorEnv([lambda: gymnasium.make(GYM_ID) for _ in range(num_envs)])
    import blendgym  # noqa: F401  (registers the ids)

    if source == "sync":
        return lambda: gymnasium.vector.SyncVectorEnv([lambda: gymnasium.make(BLENDGYM_ID) for _ in range(num_envs)])
    if source == "pool":
        return lambda: gymnasium.make_vec(BLENDGYM_ID, num_envs=num_envs, vectorization_mode="vector_entry_point")
    raise ValueError(source)


@dataclass(frozen=True)
class Contender:
    trainer: str  # the table's group; the first contender of a group is the gymnasium reference
    label: str
    threads: str  # "default" or "1"
    run: str  # what the measuring process runs: TRAINER:SOURCE
    passive: bool = False  # OMP_WAIT_POLICY=PASSIVE
    together: bool = False  # two copies at once


def contenders(diagnostics: bool) -> list[Contender]:
    """The trainers users run, each on gymnasium's CartPole-v1 and on blendgym; with ``diagnostics``, also
    the rows that explain the costs (OMP_WAIT_POLICY=PASSIVE, two copies at once)."""
    rows = []
    for threads in ("default", "1"):
        rows += [
            Contender("SB3 PPO", "CartPole-v1, DummyVecEnv(2)", threads, "sb3:gym"),
            Contender("SB3 PPO", "blendgym.sb3.make_vec_env(n_envs=2)", threads, "sb3:pool"),
            Contender("SB3 PPO", "SB3 make_vec_env, DummyVecEnv(2)", threads, "sb3:dummy"),
            Contender("SB3 PPO", "SB3 make_vec_env, SubprocVecEnv(2)", threads, "sb3:subproc"),
            Contender("SB3 PPO, 1 env", "CartPole-v1, gymnasium.make", threads, "sb3:gym-1"),
            Contender("SB3 PPO, 1 env", "gymnasium.make", threads, "sb3:make"),
            Contender("CleanRL PPO", "CartPole-v1, SyncVectorEnv(4 x gym.make)", threads, "cleanrl:gym"),
            Contender("CleanRL PPO", "SyncVectorEnv(4 x gym.make)", threads, "cleanrl:sync"),
            Contender("CleanRL PPO", "make_vec pool of 4", threads, "cleanrl:pool"),
        ]
    rows += [
        Contender("tight loop", "CartPole-v1, gymnasium.make", "default", "tight:gym-1"),
        Contender("tight loop", "gymnasium.make", "default", "tight:sync-1"),
        Contender("tight loop", "make_vec pool of 1", "default", "tight:pool-1"),
        Contender("tight loop", "make_vec pool of 2", "default", "tight:pool-2"),
    ]
    if not diagnostics:
        return rows
    rows += [
        Contender("SB3 PPO", "CartPole-v1, DummyVecEnv(2)", "default", "sb3:gym", passive=True),
        Contender("SB3 PPO", "blendgym.sb3.make_vec_env(n_envs=2)", "default", "sb3:pool", passive=True),
        Contender("CleanRL PPO", "CartPole-v1, SyncVectorEnv(4 x gym.make)", "default", "cleanrl:gym", passive=True),
        Contender("CleanRL PPO", "make_vec pool of 4", "default", "cleanrl:pool", passive=True),
    ]
    for threads in ("default", "1"):
        rows += [
            Contender("SB3 PPO", "CartPole-v1, DummyVecEnv(2)", threads, "sb3:gym", together=True),
            Contender("SB3 PPO", "blendgym.sb3.make_vec_env(n_envs=2)", threads, "sb3:pool", together=True),
            Contender("CleanRL PPO", "CartPole-v1, SyncVectorEnv(4 x gym.make)", threads, "cleanrl:gym", together=True),
            Contender("CleanRL PPO", "make_vec pool of 4", threads, "cleanrl:pool", together=True),
        ]
    return rows


def measure_here(run: str, threads: str, args: argparse.Namespace) -> float:
    """The rate of one measurement, in this process."""
    import torch

    if threads == "1":
        torch.set_num_threads(1)
    trainer, source = run.split(":")
    if trainer == "sb3":
        return sb3_ppo(sb3_venv(source), args.sb3_steps)
    if trainer == "cleanrl":
        return cleanrl_ppo(vector_envs(source, 4), args.cleanrl_steps)
    name, _, count = source.partition("-")
    return tight_loop(vector_envs(name, int(count)), args.tight_steps)


def start_measurement(contender: Contender, args: argparse.Namespace) -> subprocess.Popen[str]:
    environment = dict(os.environ)
    if contender.passive:
        environment["OMP_WAIT_POLICY"] = "PASSIVE"
    command = [
        sys.executable,
        __file__,
        "--measure",
        contender.run,
        "--threads",
        contender.threads,
        "--sb3-steps",
        str(args.sb3_steps),
        "--cleanrl-steps",
        str(args.cleanrl_steps),
        "--tight-steps",
        str(args.tight_steps),
    ]
    return subprocess.Popen(command, stdout=subprocess.PIPE, env=environment, text=True)


def finish_measurement(process: subprocess.Popen[str]) -> float:
    output, _ = process.communicate()
    if process.returncode != 0:
        raise RuntimeError(f"{process.args} failed with exit code {process.returncode}")
    return float(json.loads(output.strip().splitlines()[-1])["rate"])


def run_contender(contender: Contender, args: argparse.Namespace) -> float:
    """One measurement in fresh processes; with ``together``, the slower of two started at once."""
    processes = [start_measurement(contender, args) for _ in range(2 if contender.together else 1)]
    return min(finish_measurement(process) for process in processes)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--full",
        action="store_true",
        help="the run docs/benchmarks.md records (about 50 min on 2 cores): "
        "3 rounds, 8,192 training and 20,000 tight-loop steps, and the diagnostic rows",
    )
    parser.add_argument("--rounds", type=int, default=None, help="default 1 (3 with --full)")
    parser.add_argument("--sb3-steps", type=int, default=None, help="default 4096 (8192 with --full)")
    parser.add_argument("--cleanrl-steps", type=int, default=None, help="default 4096 (8192 with --full)")
    parser.add_argument("--tight-steps", type=int, default=None, help="default 10000 (20000 with --full)")
    parser.add_argument("--only", nargs="+", default=None, help="run only contenders whose TRAINER:SOURCE is listed")
    parser.add_argument("--measure", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--threads", default="default", help=argparse.SUPPRESS)
    args = parser.parse_args()
    # The default run prints its table within 10 minutes on 2 cores; --full is the documented one.
    for name, quick, full in (("rounds", 1, 3), ("sb3_steps", 4096, 8192), ("cleanrl_steps", 4096, 8192), ("tight_steps", 10_000, 20_000)):
        if getattr(args, name) is None:
            setattr(args, name, full if args.full else quick)
    if args.measure is not None:
        print(json.dumps({"rate": measure_here(args.measure, args.threads, args)}))
        return

    rows = [row for row in contenders(args.full) if args.only is None or row.run in args.only]
    rates: dict[Contender, list[float]] = {row: [] for row in rows}
    for round_index in range(args.rounds):
        for row in rows:
            rates[row].append(run_contender(row, args))
        print(f"round {round_index + 1} of {args.rounds} done", file=sys.stderr)
    medians = {row: statistics.median(values) for row, values in rates.items()}

    import torch

    print(
        f"Training throughput, env steps/s (median of {args.rounds} rounds); {os.cpu_count()} CPUs, torch {torch.__version__} "
        f"with {torch.get_num_threads()} threads by default"
    )
    print(f"{'trainer':<16} {'envs':<42} {'torch threads':<14} {'setting':<24} {'steps/s':>8} {'vs CartPole-v1':>15}")
    for row in rows:
        reference = next(
            (
                other
                for other in rows
                if other.trainer == row.trainer
                and other.threads == row.threads
                and other.passive == row.passive
                and not other.together
                and other.run.split(":")[1].startswith("gym")
            ),
            None,
        )
        if row.together:
            alone = next(
                other for other in rows if other.run == row.run and other.threads == row.threads and not other.passive and not other.together
            )
            setting, ratio = "2 at once (vs alone)", medians[row] / medians[alone]
        else:
            setting = "OMP_WAIT_POLICY=PASSIVE" if row.passive else ""
            ratio = medians[row] / medians[reference] if reference is not None else float("nan")
        print(f"{row.trainer:<16} {row.label:<42} {row.threads:<14} {setting:<24} {medians[row]:>8.0f} {ratio:>15.2f}")


if __name__ == "__main__":
    main()
