#!/usr/bin/env bash
# The tests of the Blender side (not the slow ones) on another bpy release blendgym supports, VERSION (4.2 or
# 5.0), in a virtual environment of its own (.venv-bpy-VERSION), so that the main .venv keeps the recommended
# 4.5 LTS. Debian's Blender 3.4 executable is tested by the main suite (tests marked `executable`).
#   bash scripts/test_blender_version.sh VERSION [pytest arguments]
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -ge 1 ] || { echo "usage: bash scripts/test_blender_version.sh VERSION [pytest arguments]" >&2; exit 2; }
version=$1
shift
CORE_TESTS="tests/test_physics.py tests/test_env_library.py tests/test_cartpole.py tests/test_pendulum.py tests/test_rendering.py tests/test_parameters.py tests/test_vector.py tests/test_errors.py tests/test_data.py tests/test_doctor.py"
venv=".venv-bpy-$version"
bash scripts/stage_venv.sh "$venv"
# torch pinned first, as in setup.sh: an unbounded one resolves to CUDA builds.
"$venv/bin/python" -m pip install -q --disable-pip-version-check ${TORCH_INDEX_URL:+--index-url "$TORCH_INDEX_URL"} "torch==2.13.0"
"$venv/bin/python" -m pip install -q --disable-pip-version-check "bpy==$version.*" -e ".[blender,train,data,test,video]"
echo "== bpy $("$venv/bin/python" -c 'import importlib.metadata as m; print(m.version("bpy"))'): $CORE_TESTS"
# Tests marked `host` check the host's own mechanics (pools, restarts, timeouts), which no Blender release
# changes: the main suite runs them.
exec "$venv/bin/python" -m pytest -q --durations=10 -m "not slow and not executable and not host" $CORE_TESTS "$@"
