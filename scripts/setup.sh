#!/usr/bin/env bash
# Creates .venv (Python 3.11, which the bpy module is built for) and installs blendgym with the embedded
# Blender, the training stack and the test tools. Running it again only installs what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3.11}
if ! command -v "$PYTHON" >/dev/null; then
    echo "blendgym's embedded Blender (the bpy module) needs Python 3.11: install python3.11 or set PYTHON=/path/to/python3.11" >&2
    exit 1
fi
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
# torch first and pinned: an unbounded torch resolves to CUDA builds (~2.6 GB). Where the CPU build is not
# on the default index, set TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu.
.venv/bin/python -m pip install -q --disable-pip-version-check ${TORCH_INDEX_URL:+--index-url "$TORCH_INDEX_URL"} "torch==2.13.0"
# The recommended embedded Blender, 4.5 LTS, before the extras, which admit 4.2 to 5.0.
.venv/bin/python -m pip install -q --disable-pip-version-check "bpy>=4.5,<4.6"
.venv/bin/python -m pip install -q --disable-pip-version-check -e ".[blender,train,data,test,video]"
