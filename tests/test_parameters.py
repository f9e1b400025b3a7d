"""Declared env parameters (docs/envs.md): checked declarations, reset options, live changes, randomisation."""

from __future__ import annotations

import re
from pathlib import Path

import gymnasium
import numpy as np
import pytest
from blendgym_blender.parameters import Parameter, check_all

import blendgym

ROOT = Path(__file__).resolve().parents[1]
ENV_ID = "blendgym/CartPole-v0"


def test_parameters_check_kind_and_range_and_name_the_culprit() -> None:
    mass = Parameter("float", 1.0, "mass (kg)", 0.5, 2.0)
    assert mass.check("mass", 2) == 2.0
    for bad, message in ((2.5, r"must lie in \[0.5, 2\]"), (float("nan"), "finite number"), (True, "finite number"), ("1", "finite number")):
        with pytest.raises(ValueError, match=message):
            mass.check("mass", bad)
    colour = Parameter("colour", (0.1, 0.2, 0.3), "linear RGB")
    assert colour.check("tint", [1, 0, 0.5]) == (1.0, 0.0, 0.5)
    with pytest.raises(ValueError, match="'tint' is a colour"):
        colour.check("tint", [1, 0])
    with pytest.raises(ValueError, match="is an int"):
        Parameter("int", 3, "count", 0, 5).check("count", 2.5)
    with pytest.raises(ValueError, match=r"must lie in \[0.5, 2\]"):
        Parameter("float", 3.0, "a default outside its own range", 0.5, 2.0)
    with pytest.raises(ValueError, match=r"unknown parameters \['mas'\] \(did you mean 'mas' → 'mass'\?\)"):
        check_all({"mass": mass}, {"mas": 1.0})
    with pytest.raises(ValueError, match=r"unknown parameters \['zzz'\]; this env declares"):  # nothing close: no guess
        check_all({"mass": mass}, {"zzz": 1.0})


def test_parameters_sample_within_their_ranges_reproducibly() -> None:
    mass = Parameter("float", 1.0, "mass (kg)", 0.5, 2.0)
    first = [mass.sample(np.random.default_rng(3)) for _ in range(2)]
    assert first[0] == first[1] and 0.5 <= first[0] <= 2.0
    colour = Parameter("colour", (0.1, 0.2, 0.3), "linear RGB").sample(np.random.default_rng(0))
    assert len(colour) == 3 and all(0 <= part <= 1 for part in colour)


def pole_angles(env: gymnasium.Env, seed: int, **options: object) -> np.ndarray:
    observation, _ = env.reset(seed=seed, options=options)
    angles = []
    for _ in range(30):
        observation, *_ = env.step(1)
        angles.append(observation[2])
    return np.array(angles)


def test_reset_options_set_physics_deterministically_and_reject_bad_values() -> None:
    env = gymnasium.make(ENV_ID)
    try:
        default = pole_angles(env, 0)
        heavy = pole_angles(env, 0, pole_mass=0.8)
        assert not np.allclose(default, heavy), "a heavier pole must fall differently"
        np.testing.assert_array_equal(pole_angles(env, 0, pole_mass=0.8), heavy)
        # Values last until changed: the next episode keeps the heavy pole.
        np.testing.assert_array_equal(pole_angles(env, 0), heavy)
        np.testing.assert_array_equal(pole_angles(env, 0, pole_mass=0.1), default)

        with pytest.raises(blendgym.BlenderEnvValueError, match=r"unknown reset options \['pole_mas'\] \(did you mean 'pole_mas' → 'pole_mass'\?\)"):
            env.reset(options={"pole_mas": 0.5})
        with pytest.raises(blendgym.BlenderEnvValueError, match=r"did you mean 'randomise' → 'randomize'\?"):
            env.reset(options={"randomise": ["pole_mass"]})
        with pytest.raises(blendgym.BlenderEnvValueError, match=r"'cart_mass' must lie in \[0.2, 5\], got 99"):
            env.reset(options={"pole_mass": 0.5, "cart_mass": 99})
        with pytest.raises(blendgym.BlenderEnvValueError, match="options\\['state'\\] must be 4 finite numbers"):
            env.reset(options={"pole_mass": 0.5, "state": [0, 0]})
        # Nothing was half-applied by the rejected resets.
        assert env.unwrapped.remote_get("pole_mass") == 0.1
        np.testing.assert_array_equal(pole_angles(env, 0), default)
    finally:
        env.close()


def test_declarations_reach_the_host_and_are_listed_in_the_docs() -> None:
    docs = (ROOT / "docs" / "envs.md").read_text()
    for env_id, source in (("blendgym/CartPole-v0", "envs/cartpole.py"), ("blendgym/Pendulum-v0", "envs/pendulum.py")):
        env = gymnasium.make(env_id)
        try:
            declared = env.unwrapped.parameters
        finally:
            env.close()
        assert declared, env_id
        docstring = (ROOT / source).read_text()
        for name, parameter in declared.items():
            row = f"| {name} | {parameter['kind']} | {_default(parameter)} | {_range(parameter)} | {parameter['doc']} |"
            assert row in docs, f"docs/envs.md lacks the row {row}"
            assert row in docstring, f"{source}'s docstring lacks the row {row}"


def _default(parameter: dict) -> str:
    default = parameter["default"]
    if parameter["kind"] == "colour":
        return "(" + ", ".join(f"{part:g}" for part in default) + ")"
    return f"{default:g}" if isinstance(default, float) else str(default)


def _range(parameter: dict) -> str:
    if parameter["kind"] == "colour":
        return "[0, 1]³"
    if parameter["kind"] == "bool":
        return "true, false"
    return f"[{parameter['low']:g}, {parameter['high']:g}]"


def test_set_attr_changes_a_running_vector_env_and_rejects_bad_values() -> None:
    envs = gymnasium.make_vec(ENV_ID, num_envs=2, vectorization_mode="vector_entry_point", render_mode="rgb_array", width=64, height=48)
    try:
        envs.reset(seed=0)
        envs.set_attr("cart_colour", [(1.0, 0.0, 0.0), (0.02, 0.06, 0.3)])
        assert envs.get_attr("cart_colour") == ([1.0, 0.0, 0.0], [0.02, 0.06, 0.3])
        red, blue = envs.render()
        redness = [int(((image[..., 0] > 150) & (image[..., 1] < 60) & (image[..., 2] < 60)).sum()) for image in (red, blue)]  # not the orange pole
        assert redness[0] > 5 and redness[1] == 0, redness
        with pytest.raises(blendgym.BlenderCallError, match=r"'camera_height' must lie in \[0, 1.5\]"):
            envs.set_attr("camera_height", 3.0)
        assert envs.get_attr("camera_height") == (0.5, 0.5)
        envs.step(np.array([1, 1]))  # the episodes go on
    finally:
        envs.close()


def test_randomize_draws_declared_parameters_at_every_reset_from_the_seed() -> None:
    env = gymnasium.make(ENV_ID)
    try:
        _, info = env.reset(seed=5, options={"randomize": ["pole_mass", "sky_colour"]})
        drawn = info["parameters"]
        assert set(drawn) == {"pole_mass", "sky_colour"} and 0.02 <= drawn["pole_mass"] <= 1.0
        _, again = env.reset(seed=5)
        assert again["parameters"] == drawn  # same seed, same draw; randomize lasts
        _, other = env.reset()
        assert other["parameters"] != drawn
        assert env.unwrapped.remote_get("randomized") == ["pole_mass", "sky_colour"]
        with pytest.raises(blendgym.BlenderEnvValueError, match=r"cannot randomize \['mass'\] \(did you mean 'mass' → 'pole_mass'\?\)"):
            env.reset(options={"randomize": ["mass"]})
        _, off = env.reset(options={"randomize": []})
        assert "parameters" not in off
    finally:
        env.close()


def test_the_docs_name_every_registered_env() -> None:
    docs = (ROOT / "docs" / "envs.md").read_text()
    for env_id in blendgym.registration.ENVS:
        assert re.search(re.escape(env_id), docs), env_id
