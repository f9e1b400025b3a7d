#!/usr/bin/env bash
# The test suite: set up, install Debian's blender (3.4) for the executable tests, run pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
if ! command -v blender >/dev/null; then
    sudo=""
    [ "$(id -u)" = 0 ] || sudo=sudo
    $sudo apt-get update -q
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q blender
fi
exec .venv/bin/python -m pytest "$@"
