"""Physics checks: the toolkit's bodies, joints and actuators (blendgym_blender.physics) in real Blender,
against closed forms. Each check states its tolerance and why; tests/envs/mechanisms.py builds the scenes.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import blendgym

from conftest import TESTS

MECHANISM = f"{TESTS / 'envs' / 'mechanisms.py'}:Mechanism"
G = 9.81
# Every check runs on the embedded Blender (the bpy module of this venv: 4.5, or 4.2 and 5.0 in their own
# stages) and on Debian's Blender 3.4 executable.
BLENDERS = ["embedded", pytest.param("executable", marks=pytest.mark.executable)]


@pytest.fixture(params=BLENDERS)
def blender(request: pytest.FixtureRequest) -> str | None:
    return request.getfixturevalue("blender_executable") if request.param == "executable" else None


def run(scenario: str, steps: int, action: float = 0.0, options: dict | None = None, **kwargs: object) -> np.ndarray:
    """The observations of one episode of ``steps`` steps: [reset, step 1, ..., step ``steps``]."""
    env = blendgym.BlenderEnv(MECHANISM, scenario=scenario, **kwargs)
    try:
        observations = [env.reset(seed=0, options=options or {})[0]]
        for _ in range(steps):
            observations.append(env.step(np.array([action]))[0])
        return np.array(observations)
    finally:
        env.close()


def test_a_free_fall_follows_gravity(blender: str | None) -> None:
    # Bullet integrates semi-implicitly: after t the height is off by about g·t·h/2 for a substep h (1 ms
    # here), 2.5 mm at 0.5 s; the velocity, a difference of poses, within 0.5%.
    observations = run("fall", 50, blender=blender)
    t = np.arange(51) / 100
    np.testing.assert_allclose(observations[:, 0], 10.0 - G * t**2 / 2, atol=0.005)
    np.testing.assert_allclose(observations[-1, 1], -G * t[-1], rtol=0.005)


@pytest.mark.parametrize("substeps", [1, 10])
def test_torque_mode_accelerates_a_link_at_torque_over_inertia(substeps: int, blender: str | None) -> None:
    # τ/I for a box turning about one end, whatever the substeps: within 2% (measured: 1.7% low at one
    # substep, 0.04% at ten; Bullet's first step after the motor takes hold lags).
    inertia = 0.5 * (0.1**2 + 0.02**2) / 12 + 0.5 * 0.05**2
    torque = 0.1
    observations = run("link", 20, torque, substeps=substeps, blender=blender)
    t = np.arange(21) / 100
    alpha = np.polyfit(t[1:], observations[1:, 0], 2)[0] * 2
    assert alpha == pytest.approx(torque / inertia, rel=0.02)
    assert observations[-1, 1] == pytest.approx(torque / inertia * t[-1], rel=0.03)


def test_force_mode_accelerates_a_slider_at_force_over_mass(blender: str | None) -> None:
    observations = run("slider", 20, 4.0, blender=blender)
    t = np.arange(21) / 100
    np.testing.assert_allclose(observations[1:, 0], 0.5 * (4.0 / 2.0) * t[1:] ** 2, rtol=0.02, atol=1e-4)


def test_a_box_slides_to_rest_at_friction_times_gravity(blender: str | None) -> None:
    # A cube launched at 1 m/s along a table (friction 0.5 on 1: Bullet multiplies them, μ = 0.5) slows at
    # μ·g = 4.905 m/s² and stops after v0/(μ·g) = 0.204 s, v0²/(2μ·g) = 0.102 m on. The launch frame sets
    # the start velocity within 0.1%; deceleration within 3% and the stop within 3 mm (measured: 0.5% more
    # and 0.8 mm shorter, on 4.5 and 3.4 alike; Bullet's friction acts per substep, and the box stops within one).
    observations = run("slide", 40, options={"velocity": [1.0, 0.0, 0.0]}, blender=blender)
    x, v = observations[:, 2], observations[:, 3]
    t = np.arange(41) / 100
    assert x[0] == pytest.approx(0.0, abs=1e-4) and v[0] == pytest.approx(1.0, rel=1e-3)
    sliding = t < 0.19
    deceleration = -2 * np.polyfit(t[sliding], x[sliding], 2)[0]
    assert deceleration == pytest.approx(0.5 * G, rel=0.03)
    assert x[-1] == pytest.approx(1.0 / (2 * 0.5 * G), abs=0.003) and abs(v[-1]) < 1e-3
    np.testing.assert_allclose(observations[:, 0], 0.05, atol=0.002)  # it slides, never hops


def test_a_ball_rolls_down_an_incline_at_five_sevenths_of_g_sin_theta(blender: str | None) -> None:
    # A solid sphere rolling without slipping accelerates at g·sinθ / (1 + I/(m·r²)) = (5/7)·g·sinθ along the
    # slope; sliding without friction it would take g·sinθ, 40% more. Rolling needs μ ≥ (2/7)·tanθ = 0.058,
    # and the contact has 0.5. Within 1% (measured: equal to six digits, on 4.5 and 3.4 alike).
    observations = run("roll", 40, blender=blender)
    height, x = observations[:, 0], observations[:, 2]
    along = np.hypot(x - x[0], height - height[0])
    t = np.arange(41) / 100
    assert along[0] == 0.0 and x[0] == pytest.approx(0.04 * math.sin(0.2), abs=1e-4)
    acceleration = 2 * np.polyfit(t, along, 2)[0]
    assert acceleration == pytest.approx(5 / 7 * G * math.sin(0.2), rel=0.01)
    # It stays on the surface: its centre keeps the ball's radius from the inclined plane.
    np.testing.assert_allclose(x * math.sin(0.2) + height * math.cos(0.2), 0.04, atol=0.002)


def test_touching_finds_where_a_resting_box_meets_its_table(blender: str | None) -> None:
    # The box's bottom face lies on the table within the bodies' 1 mm margins: the contact is the middle of
    # that face, within 2 mm; tossed up at 1 m/s, 0.05 s later it is ~4 cm clear and touches nothing.
    env = blendgym.BlenderEnv(MECHANISM, scenario="slide", blender=blender)
    try:
        env.reset(seed=0)
        for _ in range(10):
            env.step(np.zeros(1))
        point = env.remote_call("contact", 0.003)
        assert point is not None
        np.testing.assert_allclose(point, [0.0, 0.0, 0.0], atol=0.002)
        env.reset(seed=0, options={"velocity": [0.0, 0.0, 1.0]})
        for _ in range(5):
            env.step(np.zeros(1))
        assert env.remote_call("contact", 0.003) is None
    finally:
        env.close()


def test_a_pendulum_swings_with_the_compound_pendulum_period(blender: str | None) -> None:
    # Small angles (0.05 rad): the period 2π√(I/(m·g·d)) of a rod hinged at its end, within 0.5% (the
    # small-angle error at 0.05 rad is 0.016%; the rest is Bullet's integration over 10 substeps).
    inertia = (1.0**2 + 0.05**2) / 12 + 0.5**2
    period = 2 * math.pi * math.sqrt(inertia / (G * 0.5))
    observations = run("pendulum", 400, options={"state": [0.05, 0.0]}, blender=blender)
    angles = observations[:, 0]
    assert angles[0] == pytest.approx(0.05, abs=1e-4)
    crossings = np.flatnonzero(np.diff(np.sign(angles)) != 0)
    # The time of each crossing, interpolated between the frames on either side.
    times = [(index + angles[index] / (angles[index] - angles[index + 1])) / 100 for index in crossings]
    measured = 2 * np.mean(np.diff(times))
    assert measured == pytest.approx(period, rel=0.005)
    assert np.max(np.abs(angles)) == pytest.approx(0.05, rel=0.02)  # no energy gained or lost to speak of


def test_start_states_are_set_exactly(blender: str | None) -> None:
    # The launch frame carries the joint into its start state: within 1e-4 of the requested angle and
    # 1e-3 of the requested velocity (a backward difference over the launch frame).
    observations = run("pendulum", 0, options={"state": [0.7, -1.5]}, blender=blender)
    assert observations[0, 0] == pytest.approx(0.7, abs=1e-4)
    assert observations[0, 1] == pytest.approx(-1.5, abs=1e-3)


def test_velocity_mode_holds_its_target_velocity(blender: str | None) -> None:
    observations = run("link", 50, options={"mode": "velocity", "command": 3.0, "limit": 1.0}, blender=blender)
    assert observations[-1, 1] == pytest.approx(3.0, rel=0.01)


def test_position_mode_settles_on_its_target(blender: str | None) -> None:
    # A PD target with ζ ≈ 1 settles within 1 s; after 2 s it is within 1 mrad and still.
    observations = run("link", 200, options={"mode": "target", "command": 0.5, "stiffness": 0.2, "damping": 0.035, "limit": 1.0}, blender=blender)
    assert observations[-1, 0] == pytest.approx(0.5, abs=1e-3)
    assert abs(observations[-1, 1]) < 1e-2


@pytest.mark.parametrize(("scenario", "effort"), [("link", 0.05), ("slider", 4.0)])
def test_limits_stop_the_joint_at_its_stops_wherever_it_starts(scenario: str, effort: float, blender: str | None) -> None:
    # Driven into each stop from a start state away from 0 (Blender measures stops from the pose the
    # simulation starts in, which the toolkit corrects for): the joint ends at the stop within 1 mm or
    # 1 mrad (Bullet's stops are soft: measured overshoot below 0.3 mrad), never past it.
    lower, upper = -0.05, 0.1
    for push, stop in ((effort, upper), (-effort, lower)):
        observations = run(scenario, 100, push, options={"state": [0.05, 0.5]}, limits=[lower, upper], blender=blender)
        assert observations[0, 0] == pytest.approx(0.05, abs=1e-4)
        assert observations[-1, 0] == pytest.approx(stop, abs=1e-3)
        assert lower - 1e-3 <= observations[:, 0].min() and observations[:, 0].max() <= upper + 1e-3


def double_pendulum_energy(observation: np.ndarray, length: float = 0.5, mass: float = 1.0, width: float = 0.05) -> float:
    """The mechanical energy (J) of the "double" mechanism, from its joints' coordinates and velocities,
    above its lowest (hanging still)."""
    inertia = mass * (length**2 + width**2) / 12
    angle1, angle2 = observation[0], observation[0] + observation[1]
    rate1, rate2 = observation[2], observation[2] + observation[3]

    def along(angle: float) -> np.ndarray:  # (x, z) of a unit rod hanging at ``angle`` about y
        return np.array([-math.sin(angle), -math.cos(angle)])

    def turning(angle: float) -> np.ndarray:  # its derivative in the angle
        return np.array([-math.cos(angle), math.sin(angle)])

    centre1, speed1 = length / 2 * along(angle1), length / 2 * turning(angle1) * rate1
    centre2 = length * along(angle1) + length / 2 * along(angle2)
    speed2 = length * turning(angle1) * rate1 + length / 2 * turning(angle2) * rate2
    kinetic = mass * (speed1 @ speed1 + speed2 @ speed2) / 2 + inertia * (rate1**2 + rate2**2) / 2
    return kinetic + mass * G * (centre1[1] + centre2[1]) + 2 * mass * G * length


def test_an_unactuated_double_pendulum_keeps_its_energy(blender: str | None) -> None:
    # 1,000 steps (10 s) of a chaotic swing from 1.5 rad, at the 10 substeps the envs use. Bullet's
    # integrator dissipates: the energy averaged over 100 steps falls monotonically, measured 0.9% in 10 s
    # (10% at 4 substeps, under 0.1% at 40); the bound is 2%, and it never gains more than 0.5%. Single
    # readings scatter by up to ~8% around the average: the velocities are backward differences of poses
    # 0.01 s apart, which lag a fast chaotic motion; averaging over 100 steps removes that scatter.
    observations = run("double", 1000, options={"state": [1.5, 0.0, 0.0, 0.0]}, blender=blender)
    assert observations[0, 0] == pytest.approx(1.5, abs=1e-4)
    energy = np.array([double_pendulum_energy(observation) for observation in observations])
    # At rest at 1.5 rad the rods' centres are 0.25 and 0.75 m down the line of the first: m·g·(1 − cos 1.5)·1 m.
    assert energy[0] == pytest.approx(G * (1 - math.cos(1.5)), rel=1e-3)
    windows = energy[1:].reshape(10, 100).mean(axis=1)
    assert np.all(windows <= energy[0] * 1.005)
    assert windows[-1] >= energy[0] * 0.98
