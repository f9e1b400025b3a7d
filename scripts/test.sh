#!/usr/bin/env bash
# The test suite: set up, install Debian's blender (3.4) for the executable tests and xvfb for the tests of
# Blender's window (a virtual display), run pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
missing=""
command -v blender >/dev/null || missing="$missing blender"
command -v Xvfb >/dev/null || missing="$missing xvfb"
if [ -n "$missing" ]; then
    sudo=""
    [ "$(id -u)" = 0 ] || sudo=sudo
    $sudo apt-get update -q
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q $missing
fi
exec .venv/bin/python -m pytest "$@"
