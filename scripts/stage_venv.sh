#!/usr/bin/env bash
# Creates the virtual environment VENV for a test stage, unless it exists: a copy of .venv made of hard links
# where there is one (a second, and no disk), so that torch and the rest are installed already and the stage's
# pip only swaps what differs; pip replaces files rather than writing into them, so .venv stays as it was.
# Elsewhere (no .venv, another file system) VENV starts empty.
#   bash scripts/stage_venv.sh VENV
set -euo pipefail
cd "$(dirname "$0")/.."
venv=$1
[ -x "$venv/bin/python" ] && exit 0
if [ -x .venv/bin/python ] && cp -al .venv "$venv" 2>/dev/null; then
    echo "== $venv: a hard-linked copy of .venv"
else
    rm -rf "$venv"
    "${PYTHON:-python3.11}" -m venv "$venv"
fi
