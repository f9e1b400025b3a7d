"""Rendered images: render(), pixel observations, projections and videos, from real Blender processes."""

from __future__ import annotations

from pathlib import Path

import gymnasium
import numpy as np
import pytest
from blendgym_blender import wire
from blendgym_blender.view import ViewSettings
from gymnasium.utils.env_checker import check_env as gymnasium_check_env
from gymnasium.wrappers import RecordVideo
from stable_baselines3.common.env_checker import check_env as sb3_check_env

import blendgym
from blendgym.env import LaunchOptions

from conftest import FAULTY_ENV

ENV_ID = "blendgym/CartPole-v0"


def blue(image: np.ndarray) -> np.ndarray:
    """Where the cart is: its material is the only dark blue one (the sky is a pale grey-blue)."""
    r, b = image[..., 0].astype(int), image[..., 2].astype(int)
    return (b - r > 35) & (r < 150)


def orange(image: np.ndarray) -> np.ndarray:
    """Where the pole is: the only orange material."""
    r, b = image[..., 0].astype(int), image[..., 2].astype(int)
    return r - b > 60


def centroid(mask: np.ndarray) -> np.ndarray:
    rows, columns = np.nonzero(mask)
    assert len(rows), "the object is not in the image"
    return np.array([columns.mean() + 0.5, rows.mean() + 0.5])


def check_projections_match_render(env: gymnasium.Env, width: int, height: int) -> None:
    """The cart and pole appear where the camera projection of their poses says, and the cart moves."""
    _, info = env.reset(seed=0, options={"state": [-1.0, 0.0, 0.15, 0.0]})
    first = env.render()
    assert first.shape == (height, width, 3) and first.dtype == np.uint8
    projections = info["projections"]
    np.testing.assert_allclose(centroid(blue(first)), projections["Cart"]["center"], atol=1.5)
    np.testing.assert_allclose(centroid(orange(first)), projections["Pole"]["center"], atol=2.0)
    x0, y0, x1, y1 = projections["Cart"]["bbox"]
    rows, columns = np.nonzero(blue(first))
    assert x0 - 1 <= columns.min() and columns.max() + 1 <= x1 + 1 and y0 - 1 <= rows.min() and rows.max() + 1 <= y1 + 1
    for _ in range(15):
        _, _, _, _, info = env.step(1)
    second = env.render()
    moved = centroid(blue(second))
    np.testing.assert_allclose(moved, info["projections"]["Cart"]["center"], atol=1.5)
    assert moved[0] > centroid(blue(first))[0] + 5, "the cart was pushed right for 15 steps but did not move in the image"


# Pure units -------------------------------------------------------------------------------------------


def test_view_settings_defaults_and_errors() -> None:
    assert (ViewSettings.from_options().width, ViewSettings.from_options().height) == (640, 480)
    pixels = ViewSettings.from_options(obs_mode="pixels")
    assert (pixels.width, pixels.height) == (84, 84) and pixels.renders
    assert ViewSettings.from_json(pixels.to_json()) == pixels
    state = {"type": "Discrete", "n": 2, "start": 0}
    both = ViewSettings.from_options(obs_mode="both", width=32, height=16).observation_space(state)
    assert both["spaces"]["state"] == state and both["spaces"]["pixels"]["shape"] == [16, 32, 3]
    assert blendgym.spaces.to_gymnasium(both["spaces"]["pixels"]) == gymnasium.spaces.Box(0, 255, (16, 32, 3), np.uint8)
    for bad, message in [
        ({"obs_mode": "image"}, "obs_mode='image' is not one of"),
        ({"renderer": "opengl"}, "renderer='opengl' is not one of"),
        ({"width": 0}, "width=0 must be an int"),
        ({"height": 84.0}, "height=84.0 must be an int"),
        ({"projections": "Cart"}, "must be a list of object names"),
    ]:
        with pytest.raises(ValueError, match=message):
            ViewSettings.from_options(**bad)


def test_launch_options_are_split_from_the_env_class_keywords() -> None:
    options, env_kwargs = LaunchOptions.split({"render_mode": "rgb_array", "width": 32, "timeout": 5.0, "substeps": 8, "seed": 3})
    assert (options.render_mode, options.width, options.timeout, options.seed) == ("rgb_array", 32, 5.0, 3)
    assert env_kwargs == {"substeps": 8} and options.obs_mode == "state" and options.transport == "auto"
    assert options.view().rgb_array and options.view().width == 32


def test_image_replies_round_trip_and_reject_bad_lengths() -> None:
    image = np.random.default_rng(0).integers(0, 256, size=(3, 5, 3), dtype=np.uint8)
    frame = wire.encode_image_reply(image)
    assert frame[:1] == wire.IMAGE and len(frame) == wire.IMAGE_REPLY.size + image.nbytes
    decoded = wire.decode_image_reply(frame)
    np.testing.assert_array_equal(decoded, image)
    assert decoded.flags.writeable
    with pytest.raises(wire.ProtocolError, match="does not hold 3x5x3 pixels"):
        wire.decode_image_reply(frame[:-1])


def test_bad_view_keywords_fail_before_blender_starts() -> None:
    with pytest.raises(ValueError, match="render_mode='ansi' is not supported"):
        blendgym.BlenderEnv("blendgym_envs.cartpole:CartPole", render_mode="ansi")
    with pytest.raises(ValueError, match="renderer='opengl'"):
        gymnasium.make(ENV_ID, renderer="opengl")
    with pytest.raises(ValueError, match="obs_mode='rgb'"):
        gymnasium.make_vec(ENV_ID, num_envs=2, vectorization_mode="vector_entry_point", obs_mode="rgb")


# Blender ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("renderer", ["fast", "workbench"])
def test_render_shows_cart_and_pole_where_projection_says(renderer: str) -> None:
    with gymnasium.make(ENV_ID, render_mode="rgb_array", renderer=renderer, width=160, height=120, projections=["Cart", "Pole"]) as env:
        check_projections_match_render(env, 160, 120)


@pytest.mark.executable
def test_render_on_blender_executable(blender_executable: str) -> None:
    env = gymnasium.make(ENV_ID, blender=blender_executable, render_mode="rgb_array", width=160, height=120, projections=["Cart", "Pole"])
    with env:
        assert not env.unwrapped.process.hello["embedded"]
        check_projections_match_render(env, 160, 120)


@pytest.mark.parametrize("renderer", ["fast", "workbench"])
def test_rendering_leaves_the_simulation_alone(renderer: str) -> None:
    """Images in every observation and render() calls change no state observation, bit for bit."""
    actions = [1, 0, 0, 1, 1, 1, 0, 1, 0, 0] * 3
    histories = []
    for keywords in ({}, {"obs_mode": "both", "render_mode": "rgb_array", "renderer": renderer}):
        with gymnasium.make(ENV_ID, **keywords) as env:
            observation, _ = env.reset(seed=3)
            history = [observation]
            for action in actions:
                env.render()
                observation, *_ = env.step(action)
                history.append(observation)
            histories.append(np.array([o["state"] if isinstance(o, dict) else o for o in history]))
    np.testing.assert_array_equal(histories[0], histories[1])


def test_pixel_observations_pass_both_env_checkers() -> None:
    with gymnasium.make(ENV_ID, obs_mode="pixels") as env:
        assert env.observation_space == gymnasium.spaces.Box(0, 255, (84, 84, 3), np.uint8)
        observation, _ = env.reset(seed=0)
        assert observation.shape == (84, 84, 3) and observation.dtype == np.uint8 and orange(observation).any()
        gymnasium_check_env(env.unwrapped, skip_render_check=True)
        sb3_check_env(env.unwrapped, warn=False)
    with gymnasium.make(ENV_ID, obs_mode="both", width=48, height=40) as env:
        assert set(env.observation_space.spaces) == {"state", "pixels"}
        observation, _ = env.reset(seed=0)
        assert observation["pixels"].shape == (40, 48, 3) and observation["state"].shape == (4,)
        assert observation in env.observation_space
        sb3_check_env(env.unwrapped, warn=False)


def test_vector_env_batches_pixels_renders_and_projects() -> None:
    envs = gymnasium.make_vec(
        ENV_ID, num_envs=2, vectorization_mode="vector_entry_point", obs_mode="both", render_mode="rgb_array", projections=["Cart"]
    )
    try:
        observations, infos = envs.reset(seed=0)
        assert observations["pixels"].shape == (2, 84, 84, 3) and observations["state"].shape == (2, 4)
        assert len(infos["projections"]["Cart"]["center"]) == 2
        images = envs.render()
        assert len(images) == 2 and all(image.shape == (84, 84, 3) for image in images)
        np.testing.assert_array_equal(images[0], observations["pixels"][0])
        observations, *_ = envs.step(np.array([0, 1]))
        assert observations["pixels"].shape == (2, 84, 84, 3)
    finally:
        envs.close()


def test_unknown_projected_object_is_a_start_error() -> None:
    with pytest.raises(blendgym.BlenderStartError, match=r"projections name objects that are not in the scene: \['Wheel'\]"):
        gymnasium.make(ENV_ID, projections=["Wheel"])


def test_render_without_render_mode_returns_none() -> None:
    with gymnasium.make(ENV_ID) as env:
        env.reset(seed=0)
        assert env.render() is None


def test_record_video_writes_an_mp4_of_an_episode(tmp_path: Path) -> None:
    env = RecordVideo(
        gymnasium.make(ENV_ID, render_mode="rgb_array", width=160, height=120), str(tmp_path / "videos"), episode_trigger=lambda episode: True
    )
    with env:
        env.reset(seed=0)
        steps = 0
        while True:
            _, _, terminated, truncated, _ = env.step(env.action_space.sample())
            steps += 1
            if terminated or truncated:
                break
    videos = list((tmp_path / "videos").glob("*.mp4"))
    assert len(videos) == 1 and videos[0].stat().st_size > 1000
    from moviepy import VideoFileClip

    with VideoFileClip(str(videos[0])) as clip:
        assert clip.size == [160, 120]
        assert clip.duration == pytest.approx((steps + 1) / 50, abs=0.05)


def engines_taken(blender: str | None) -> dict[str, str]:
    env = blendgym.BlenderEnv(FAULTY_ENV, blender=blender)
    try:
        return {kind: env.remote_call("engine_for", kind) for kind in ("workbench", "cycles", "eevee")}
    finally:
        env.close()


def test_render_engines_are_chosen_by_what_this_blender_offers() -> None:
    # EEVEE is BLENDER_EEVEE before 4.2 and from 5.0 on, BLENDER_EEVEE_NEXT in between: blendgym asks Blender
    # which it offers, and Blender takes the name (setting one it lacks raises). Run on every tested bpy
    # release, and on the executable below.
    taken = engines_taken(None)
    assert taken["workbench"] == "BLENDER_WORKBENCH" and taken["cycles"] == "CYCLES"
    assert taken["eevee"] in ("BLENDER_EEVEE", "BLENDER_EEVEE_NEXT")


@pytest.mark.executable
def test_render_engines_are_chosen_by_what_the_blender_executable_offers(blender_executable: str) -> None:
    taken = engines_taken(blender_executable)  # Debian's 3.4 in CI, which has no EEVEE Next
    assert taken["workbench"] == "BLENDER_WORKBENCH" and taken["eevee"] in ("BLENDER_EEVEE", "BLENDER_EEVEE_NEXT")
