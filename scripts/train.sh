#!/usr/bin/env bash
# The main job: set up, then train PPO on blendgym/CartPole-v0 (embedded Blender) and print its evaluation.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/python agents/train_cartpole.py "$@"
