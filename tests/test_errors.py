"""Failures inside Blender reach the host as typed errors that name the env and the process, and the env
goes on after a reset. Uses tests/envs/faulty.py, loaded from its path as a user's env would be."""

from __future__ import annotations

import gzip
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import blendgym
from blendgym.blender import saved_by

from conftest import FAULTY_ENV, process_alive


@pytest.fixture
def env():
    # The timeout only has to tell a hang from a step that takes a millisecond: 10 s holds on a loaded machine.
    env = blendgym.BlenderEnv(FAULTY_ENV, timeout=10.0)
    yield env
    env.close()


def test_a_user_env_from_a_file_steps_frame_skip_frames(env: blendgym.BlenderEnv) -> None:
    observation, info = env.reset(seed=1)
    start = info["frame"]
    heights = [observation[0]]
    for step in range(1, 4):
        observation, _, _, _, info = env.step(0)
        assert info["frame"] == start + 3 * step
        heights.append(observation[0])
    assert np.all(np.diff(heights) < 0)  # the ball falls


def test_an_exception_in_blender_arrives_with_its_traceback(env: blendgym.BlenderEnv) -> None:
    env.reset(seed=1)
    with pytest.raises(blendgym.BlenderEnvError) as raised:
        env.step(1)
    message = str(raised.value)
    assert "boom from inside Blender" in message and "faulty.py" in message and "apply_action" in message
    assert FAULTY_ENV in message and f"pid {env.process.process.pid}" in message
    assert raised.value.remote_type == "RuntimeError" and "Traceback" in raised.value.remote_traceback
    with pytest.raises(blendgym.BlenderEnvError, match="reset"):
        env.step(0)
    pid = env.process.process.pid
    env.reset(seed=1)
    env.step(0)
    assert env.process.process.pid == pid  # the same Blender goes on


def test_a_dying_blender_is_reported_and_replaced_on_reset(env: blendgym.BlenderEnv) -> None:
    env.reset()
    old = env.process.process.pid
    with pytest.raises(blendgym.BlenderProcessDied, match="exited with code 3"):
        env.step(2)
    assert env.process is None
    observation, _ = env.reset(seed=2)
    assert env.process.process.pid != old and observation in env.observation_space
    env.step(0)


@pytest.mark.host
def test_a_hung_blender_times_out_is_killed_and_replaced(env: blendgym.BlenderEnv) -> None:
    env.reset()
    hung = env.process.process.pid
    with pytest.raises(blendgym.BlenderTimeoutError, match="no reply to step within 10 s; the Blender process was killed"):
        env.step(3)
    assert not process_alive(hung)
    env.reset()
    env.step(0)


def test_a_failing_scene_build_is_a_start_error_with_traceback() -> None:
    before = os.sched_getaffinity(0)
    with pytest.raises(blendgym.BlenderStartError, match="the scene could not be built") as raised:
        blendgym.BlenderEnv(FAULTY_ENV, fail_on_build=True)
    assert "Traceback" in str(raised.value)
    assert os.sched_getaffinity(0) == before


def test_a_start_up_timeout_reports_blenders_output() -> None:
    with pytest.raises(blendgym.BlenderStartError, match="no reply to start-up within 0.01 s") as raised:
        blendgym.BlenderEnv(FAULTY_ENV, startup_timeout=0.01)
    assert "startup_timeout=" in str(raised.value)
    assert "Last lines of Blender's output" in str(raised.value) or "Blender printed nothing" in str(raised.value)


def test_unknown_env_class_and_bad_kwargs_are_start_errors() -> None:
    with pytest.raises(blendgym.BlenderStartError, match="No module named"):
        blendgym.BlenderEnv("no_such_module:Env")
    with pytest.raises(blendgym.BlenderStartError, match="unexpected keyword"):
        blendgym.BlenderEnv("blendgym_envs.cartpole:CartPole", no_such_argument=1)
    with pytest.raises(ValueError, match="JSON"):
        blendgym.BlenderEnv("blendgym_envs.cartpole:CartPole", force_mag=object())


def test_start_up_mistakes_are_named_in_the_first_line() -> None:
    # A missing file is found on the host, before any Blender starts.
    with pytest.raises(FileNotFoundError, match="there is no file .*no_such_env.py"):
        blendgym.BlenderEnv("no_such_env.py:Env")
    # A mistyped class: the guess and the classes the file defines.
    with pytest.raises(blendgym.BlenderStartError) as raised:
        blendgym.BlenderEnv(FAULTY_ENV.replace(":Faulty", ":Faulti"))
    first_line = str(raised.value).splitlines()[0]
    assert "defines no class 'Faulti' (did you mean 'Faulti' → 'Faulty'?)" in first_line and "'Spaceless'" in first_line
    # A class that sets no action space.
    with pytest.raises(blendgym.BlenderStartError) as raised:
        blendgym.BlenderEnv(FAULTY_ENV.replace(":Faulty", ":Spaceless"))
    assert "set no action_space in __init__" in str(raised.value).splitlines()[0]


def save_empty_scene(path: Path, compress: bool | None = None) -> None:
    """A .blend saved by the embedded Blender, as a user's scene would be (compressed or not as told, else as
    that release does by default)."""
    options = "" if compress is None else f", compress={compress}"
    script = f"import bpy; bpy.ops.wm.save_as_mainfile(filepath={str(path)!r}{options})"
    subprocess.run([sys.executable, "-c", script], check=True, capture_output=True, timeout=120)


def test_a_blend_files_header_names_the_release_that_saved_it(tmp_path: Path) -> None:
    # The header changed in 5.0 (BLENDER-v405 before, BLENDER17-01v0500 since); compression is zstd (the
    # default from 5.0 on), or gzip for the whole file before 3.0.
    release = blendgym.find_blender("embedded").version[:2]
    for compress in (False, True):
        path = tmp_path / f"scene-{compress}.blend"
        save_empty_scene(path, compress)
        assert saved_by(path) == release
        assert path.read_bytes()[:4] == (b"\x28\xb5\x2f\xfd" if compress else b"BLEN")
    gzipped = tmp_path / "gzipped.blend"
    gzipped.write_bytes(gzip.compress((tmp_path / "scene-False.blend").read_bytes()))
    assert saved_by(gzipped) == release
    assert saved_by(FAULTY_ENV.partition(":")[0]) is None


@pytest.mark.executable
def test_a_blend_file_newer_than_its_blender_is_refused_before_blender_starts(tmp_path: Path, blender_executable: str) -> None:
    # Blender 3.4 crashes (code -11) on a file saved by 4.x; the header says so before any start.
    path = tmp_path / "scene.blend"
    save_empty_scene(path)
    major, minor = blendgym.find_blender("embedded").version[:2]
    with pytest.raises(blendgym.BlenderStartError) as raised:
        blendgym.BlenderEnv("blendgym_envs.cartpole:CartPole", blender=blender_executable, blend_file=path)
    first_line = str(raised.value).splitlines()[0]
    assert first_line.startswith("blendgym_envs.cartpole:CartPole: ") and f"was saved by Blender {major}.{minor}, which Blender 3.4" in first_line
    assert "pid" not in first_line  # no Blender was started


def test_a_missing_blender_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(blendgym.BlenderNotFoundError, match="apt-get install blender"):
        blendgym.BlenderEnv("blendgym_envs.cartpole:CartPole", blender="/nonexistent/blender")
    monkeypatch.setenv("BLENDGYM_BLENDER", "/nonexistent/blender")
    with pytest.raises(blendgym.BlenderNotFoundError, match="/nonexistent/blender"):
        blendgym.find_blender()
