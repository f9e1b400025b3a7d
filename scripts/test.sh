#!/usr/bin/env bash
# The test suite: set up, install Debian's blender (3.4) for the executable tests and xvfb for the tests of
# Blender's window (a virtual display), run pytest; with no arguments, then the core tests on bpy 4.2 and 5.0
# and the Ray RLlib tests, each in a virtual environment of its own.
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
.venv/bin/python -m pytest "$@"
# The whole suite (no arguments) also runs on the other supported bpy releases, and on Ray RLlib.
if [ $# -eq 0 ]; then
    bash scripts/test_blender_versions.sh
    bash scripts/test_rllib.sh
fi
