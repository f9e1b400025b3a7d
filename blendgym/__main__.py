"""The ``blendgym`` command (also ``python -m blendgym``):

- ``blendgym doctor``: what blendgym would use here (Blender, its Python, lanes, a display), a one-second
  env smoke test, and the fix for whatever is missing; exits 1 when no env could step.
- ``blendgym console-line module:Class``: the line that starts a blendgym server in Blender's Python
  console, for ``blendgym.attach`` to connect to (docs/live.md).
"""

from __future__ import annotations

import argparse
import sys

from blendgym_blender import wire

from . import doctor
from .attached import console_line


def main() -> None:
    parser = argparse.ArgumentParser(prog="blendgym")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("doctor", help="say what blendgym would use here, step an env for a second, and what to fix")
    line = commands.add_parser("console-line", help="print the line that serves an env from Blender's Python console")
    line.add_argument("env_class", help="module:Class or /path/file.py:Class, e.g. blendgym_envs.cartpole:CartPole")
    line.add_argument("--address", default=wire.DEFAULT_ATTACH_ADDRESS)
    args = parser.parse_args()
    if args.command == "doctor":
        sys.exit(doctor.run())
    print(console_line(args.env_class, args.address))


if __name__ == "__main__":
    main()
