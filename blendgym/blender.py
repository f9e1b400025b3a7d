"""Finding the Blender that runs an env: the embedded bpy module or a Blender executable."""

from __future__ import annotations

import functools
import gzip
import importlib.metadata
import importlib.util
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import zstandard

from .errors import BlenderNotFoundError, BlenderStartError

MINIMUM_VERSION = (3, 4)
ENVIRONMENT_VARIABLE = "BLENDGYM_BLENDER"
EMBEDDED = "embedded"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
GZIP_MAGIC = b"\x1f\x8b"

INSTALL_HINT = (
    "Install the embedded Blender with `pip install 'blendgym[blender]'` (the PyPI bpy module, Python 3.11), "
    f"or install Blender {MINIMUM_VERSION[0]}.{MINIMUM_VERSION[1]} or newer (e.g. `apt-get install blender`) and pass "
    f"blender='/path/to/blender' or set {ENVIRONMENT_VARIABLE}."
)

WINDOW_HINT = (
    f"render_mode='human' needs a Blender executable, {MINIMUM_VERSION[0]}.{MINIMUM_VERSION[1]} or newer: install one "
    f"(`apt-get install blender`, or blender.org) and pass blender='/path/to/blender' or set {ENVIRONMENT_VARIABLE}."
)


@dataclass(frozen=True)
class Blender:
    """How to start one Blender: ``program`` is a Python that imports bpy (embedded) or a Blender executable."""

    program: str
    embedded: bool
    version: tuple[int, ...]

    def describe(self) -> str:
        version = ".".join(map(str, self.version))
        return f"Blender {version} (bpy module)" if self.embedded else f"Blender {version} ({self.program})"


def find_blender(blender: str | os.PathLike[str] | None = None, *, executable: bool = False) -> Blender:
    """The Blender to use: ``blender`` if given, else $BLENDGYM_BLENDER, else the embedded bpy module, else
    ``blender`` on PATH. ``"embedded"`` names the bpy module explicitly. ``executable=True`` (a window is
    wanted) skips the bpy module, which cannot open one."""
    choice = os.fspath(blender) if blender is not None else os.environ.get(ENVIRONMENT_VARIABLE) or None
    if executable and choice == EMBEDDED:
        raise BlenderNotFoundError(f"the embedded Blender (bpy module) cannot open a window. {WINDOW_HINT}")
    if executable and choice is None and shutil.which("blender") is None:
        raise BlenderNotFoundError(f"no Blender executable on PATH, and the embedded Blender (bpy module) cannot open a window. {WINDOW_HINT}")
    if choice == EMBEDDED or (not executable and choice is None and importlib.util.find_spec("bpy") is not None):
        return _embedded()
    if choice is None:
        found = shutil.which("blender")
        if found is None:
            raise BlenderNotFoundError(f"no Blender found: the bpy module is not installed and there is no `blender` on PATH. {INSTALL_HINT}")
        choice = found
    path = shutil.which(choice)
    if path is None:
        raise BlenderNotFoundError(f"Blender executable {choice!r} does not exist or is not executable. {INSTALL_HINT}")
    return _executable(str(Path(path).resolve()))


def _embedded() -> Blender:
    if importlib.util.find_spec("bpy") is None:
        raise BlenderNotFoundError(f"the embedded Blender (bpy module) is not installed in {sys.executable}. {INSTALL_HINT}")
    version = _parse_version(importlib.metadata.version("bpy"))
    _check_version(version, "the bpy module")
    return Blender(sys.executable, True, version)


def _executable(path: str) -> Blender:
    blender = Blender(path, False, _executable_version(path, os.stat(path).st_mtime_ns))
    _check_version(blender.version, path)
    return blender


@functools.cache
def _executable_version(path: str, mtime_ns: int) -> tuple[int, ...]:
    try:
        result = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired) as error:
        raise BlenderNotFoundError(f"{path} --version failed ({error}); is it a Blender executable? {INSTALL_HINT}") from None
    match = re.search(r"^Blender (\d+\.\d+(?:\.\d+)?)", result.stdout, re.MULTILINE)
    if match is None:
        raise BlenderNotFoundError(f"{path} does not look like Blender: `--version` printed {result.stdout[-300:]!r}. {INSTALL_HINT}")
    return _parse_version(match.group(1))


def _parse_version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", text)[:3])


def _check_version(version: tuple[int, ...], what: str) -> None:
    if version[:2] < MINIMUM_VERSION:
        found = ".".join(map(str, version))
        raise BlenderNotFoundError(f"{what} is Blender {found}, older than {MINIMUM_VERSION[0]}.{MINIMUM_VERSION[1]}. {INSTALL_HINT}")


def saved_by(blend_file: str | os.PathLike[str]) -> tuple[int, int] | None:
    """The Blender release (major, minor) that saved ``blend_file``, read from its header: ``BLENDER-v405``
    until 4.5, ``BLENDER17-01v0500`` from 5.0 on; the file may be zstd-compressed (5.0's default, an option
    since 3.0) or gzip-compressed (before 3.0). None where it is no .blend file."""
    with open(blend_file, "rb") as file:
        magic = file.read(4)
        file.seek(0)
        if magic == ZSTD_MAGIC:
            header = zstandard.ZstdDecompressor().stream_reader(file).read(17)
        elif magic[:2] == GZIP_MAGIC:
            header = gzip.GzipFile(fileobj=file).read(17)
        else:
            header = file.read(17)
    if not header.startswith(b"BLENDER"):
        return None
    version = header[13:17] if header[7:9].isdigit() else header[9:12]
    if not version.isdigit():
        return None
    number = int(version)
    return number // 100, number % 100


def check_opens(blender: Blender, blend_file: str, name: str) -> None:
    """Refuse a ``blend_file`` saved by a newer major release than ``blender``, which such a Blender cannot
    read (3.4 crashes on files from 4.x) — except 5.x files in 4.5, which 4.5 was made to read. A newer minor
    release of the same major one loads, with Blender's own warning that data may be lost."""
    saver = saved_by(blend_file)
    if saver is None or saver[0] <= blender.version[0] or (saver[0] == 5 and blender.version[:2] >= (4, 5)):
        return
    raise BlenderStartError(
        f"{name}: {blend_file} was saved by Blender {saver[0]}.{saver[1]}, which {blender.describe()} cannot open; "
        f"run the env with a Blender {saver[0]}.x (blender=...) or save the file again in Blender {blender.version[0]}.x"
    )
