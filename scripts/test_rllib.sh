#!/usr/bin/env bash
# The Ray RLlib tests (tests/rllib, the slow training one included) in a virtual environment of their own,
# .venv-rllib: ray[rllib] pins gymnasium 1.2.2, which must not replace the main .venv's.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=.venv-rllib
bash scripts/stage_venv.sh "$venv"
# torch pinned first, as in setup.sh: an unbounded one resolves to CUDA builds.
"$venv/bin/python" -m pip install -q --disable-pip-version-check ${TORCH_INDEX_URL:+--index-url "$TORCH_INDEX_URL"} "torch==2.13.0"
"$venv/bin/python" -m pip install -q --disable-pip-version-check "bpy>=4.5,<4.6" -e ".[blender,rllib,test]"
echo "== Ray $("$venv/bin/python" -c 'import ray; print(ray.__version__)'), gymnasium $("$venv/bin/python" -c 'import gymnasium; print(gymnasium.__version__)'): tests/rllib"
exec "$venv/bin/python" -m pytest -q --durations=10 tests/rllib "$@"
