"""``python -m blendgym console-line module:Class``: the line that starts a blendgym server in Blender's
Python console, for ``blendgym.attach`` to connect to (docs/live.md)."""

from __future__ import annotations

import argparse

from blendgym_blender import wire

from .attached import console_line


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m blendgym")
    commands = parser.add_subparsers(dest="command", required=True)
    line = commands.add_parser("console-line", help="print the line that serves an env from Blender's Python console")
    line.add_argument("env_class", help="module:Class or /path/file.py:Class, e.g. blendgym_envs.cartpole:CartPole")
    line.add_argument("--address", default=wire.DEFAULT_ATTACH_ADDRESS)
    args = parser.parse_args()
    print(console_line(args.env_class, args.address))


if __name__ == "__main__":
    main()
