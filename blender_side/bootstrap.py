"""Entry point of a Blender process started by blendgym's launcher.

Runs either as ``python -P bootstrap.py ARGS`` with a Python that can import the bpy module (the embedded
Blender), or as ``blender [-b] --python bootstrap.py -- ARGS`` (with the UI for ``render_mode="human"``).
It makes blendgym's Blender-side packages importable from the paths the host gave, builds the env (or
data generator) and serves it until the host closes it or dies. Everything it is told comes from the command line of its own
host; nothing from a socket is executed.
"""

from __future__ import annotations

import argparse
import ctypes
import importlib
import importlib.util
import json
import os
import shutil
import socket
import sys
from pathlib import Path
from types import ModuleType
from typing import Any, NoReturn


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="blendgym bootstrap")
    parser.add_argument("--env-class", required=True, help="module:Class or /path/file.py:Class")
    parser.add_argument("--env-kwargs", default="{}", help="JSON object of keyword arguments")
    parser.add_argument("--env-id", default="", help="the env's registered id, reported in the handshake")
    parser.add_argument("--endpoint", required=True)
    parser.add_argument("--parent-pid", type=int, required=True)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--instance", type=int, default=0)
    parser.add_argument("--cpu", type=int, default=None, help="pin every thread of this process to this CPU")
    parser.add_argument("--package", action="append", default=[], help="NAME=DIR: import package NAME from DIR")
    parser.add_argument("--python-path", action="append", default=[], help="appended to sys.path")
    parser.add_argument("--blend-file", default=None, help="a .blend file to open before the env is built")
    parser.add_argument("--view", default="{}", help="JSON object of blendgym_blender.view.ViewSettings")
    parser.add_argument(
        "--lane", default=None, help="FD:TAG,FD:TAG: the inherited memory files of the lane (and its doorbell) to serve through after the handshake"
    )
    parser.add_argument("--lane-spin-limit", type=float, default=0.0, help="spin for each next request for at most this many seconds before sleeping")
    parser.add_argument(
        "--private-dir", required=True, help="the host's directory for this process (sockets, rendered files); removed here if the host dies first"
    )
    return parser.parse_args(argv)


def load_package(name: str, directory: str) -> None:
    """Import ``directory`` as package ``name`` whatever the directory is called (editable installs)."""
    spec = importlib.util.spec_from_file_location(name, Path(directory) / "__init__.py", submodule_search_locations=[directory])
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load package {name} from {directory}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)


def load_env_class(reference: str) -> type:
    location, _, class_name = reference.rpartition(":")
    if not location or not class_name:
        raise ValueError(f"env class {reference!r} is not of the form module:Class or /path/file.py:Class")
    module: ModuleType
    if location.endswith(".py"):
        path = Path(location)
        spec = importlib.util.spec_from_file_location(f"blendgym_user_env_{path.stem}", path)
        if spec is None or spec.loader is None:
            raise ImportError(f"cannot load env file {path}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module
        spec.loader.exec_module(module)
    else:
        module = importlib.import_module(location)
    if not isinstance(getattr(module, class_name, None), type):
        from blendgym_blender.parameters import did_you_mean

        classes = sorted(name for name, value in vars(module).items() if isinstance(value, type) and value.__module__ == module.__name__)
        raise AttributeError(f"{location} defines no class {class_name!r}{did_you_mean([class_name], classes)}; the classes it defines: {classes}")
    return getattr(module, class_name)


def build_env(reference: str, kwargs: dict[str, Any]) -> Any:
    """The env of class ``reference`` built with ``kwargs``, its parameters' values put into its scene."""
    from blendgym_blender.generator import Generator

    env = load_env_class(reference)(**kwargs)
    missing = [name for name in ("observation_space", "action_space") if getattr(env, name, None) is None]
    if missing and not isinstance(env, Generator):
        raise TypeError(
            f"{reference} set no {' and no '.join(missing)} in __init__: an env sets both, from blendgym_blender.spaces "
            '(docs/envs.md, "Writing your own env")'
        )
    env.apply_parameters(dict(env.params))
    return env


def _identity(*, env_id: str, env_class: str, instance: int, embedded: bool, lane: bool) -> dict[str, Any]:
    """The handshake fields that say which Blender serves what (docs/protocol.md, "Handshake")."""
    import bpy

    return {
        "blender_version": bpy.app.version_string,
        "embedded": embedded,
        "lane": lane,
        "env_id": env_id,
        "env_class": env_class,
        "instance": instance,
        "pid": os.getpid(),
        "host": socket.gethostname(),
    }


def handshake(env: Any, view: Any, *, attached: bool, **identity: Any) -> dict[str, Any]:
    """The handshake reply's fields for ``env`` seen through ``view``."""
    return {
        **_identity(**identity),
        "attached": attached,
        "observation_space": view.observation_space,
        "view": view.settings.to_json(),
        "action_space": env.action_space.to_json(),
        "render_fps": env.render_fps,
        "frame_skip": env.frame_skip,
        "parameters": {name: parameter.to_json() for name, parameter in env.parameters.items()},
    }


def generator_handshake(generator: Any, settings: Any, **identity: Any) -> dict[str, Any]:
    """The handshake reply's fields for a data generator whose items ``settings`` describes."""
    return {
        **_identity(**identity),
        "attached": False,
        "generator": True,
        "view": settings.to_json(),
        "parameters": {name: parameter.to_json() for name, parameter in generator.parameters.items()},
    }


def open_lane(descriptors: str | None) -> Any:
    """The lane whose descriptors the host passed, or None."""
    if descriptors is None:
        return None
    from blendgym_blender.lane import Lane

    return Lane.open(descriptors)


def pin_to_cpu(cpu: int) -> None:
    """Pin every thread that exists now; threads started later inherit the main thread's mask."""
    for task in os.listdir("/proc/self/task"):
        try:
            os.sched_setaffinity(int(task), {cpu})
        except OSError:
            pass


def main(argv: list[str]) -> None:
    args = parse_args(argv)
    sys.path.extend(path for path in args.python_path if path not in sys.path)
    for package in args.package:
        name, _, directory = package.partition("=")
        load_package(name, directory)
    embedded = "bpy" not in sys.modules
    if args.cpu is not None:
        # Before bpy starts Blender: its task scheduler (oneTBB) sizes its pool of worker threads from this
        # process's cores, and a worker would spin-wait after every parallel task (docs/benchmarks.md).
        pin_to_cpu(args.cpu)
    import bpy
    import numpy
    from blendgym_blender.agent import GeneratorSession, RemoteControlledAgent, Session
    from blendgym_blender.generator import Generator
    from blendgym_blender.labels import Labeller
    from blendgym_blender.render import View
    from blendgym_blender.view import ViewSettings

    agent = RemoteControlledAgent(args.endpoint, args.parent_pid, open_lane(args.lane), args.lane_spin_limit)
    try:
        if args.blend_file is not None:
            bpy.ops.wm.open_mainfile(filepath=args.blend_file)
        served = build_env(args.env_class, json.loads(args.env_kwargs))
        settings = ViewSettings.from_json(json.loads(args.view))
        if settings.human == bpy.app.background:
            raise RuntimeError("render_mode='human' needs Blender with its UI (not -b), and only it may run with the UI")
        if isinstance(served, Generator):
            if settings.human:
                raise RuntimeError("a data generator runs headless: it has no window")
            labeller = Labeller(served.scene, settings, args.private_dir)
        else:
            served.np_random = numpy.random.default_rng(args.seed)
            view = View(served.scene, served.observation_space.to_json(), settings, args.private_dir)
    except BaseException as error:
        agent.fail_start(error)
        agent.close()
        raise
    common = {"env_id": args.env_id, "env_class": args.env_class, "instance": args.instance, "embedded": embedded, "lane": agent.lane is not None}
    if isinstance(served, Generator):
        agent.serve(GeneratorSession(served, labeller, generator_handshake(served, settings, **common)))
        labeller.close()
    else:
        hello = handshake(served, view, attached=False, **common)
        if settings.human:
            from blendgym_blender.live import serve_in_window

            serve_in_window(agent, Session(served, view, hello), settings, args.private_dir)
            return  # Blender's event loop runs the server from now on, and quits when it ends.
        agent.serve(Session(served, view, hello))
        view.close()
    agent.close()
    if not agent.host_alive():
        shutil.rmtree(args.private_dir, ignore_errors=True)
    exit_without_teardown()


def exit_without_teardown() -> NoReturn:
    """End the process now that the host has its last reply. Blender's own teardown frees every datablock and
    the GPU context one by one, ~100-200 ms that the host's ``close()`` (and a data epoch's end) would wait
    for; the kernel frees it all at once. Blender's session temp folder lies in the private directory
    (TMPDIR), which the host removes, so nothing is left behind."""
    sys.stdout.flush()
    sys.stderr.flush()
    ctypes.CDLL(None).fflush(None)  # Blender's own C stdio buffers
    os._exit(0)


if __name__ == "__main__":
    main(sys.argv[sys.argv.index("--") + 1 :] if "--" in sys.argv else sys.argv[1:])
