"""The rules of attribute requests (docs/protocol.md, "Attributes") and pool placement, without Blender."""

from __future__ import annotations

import os

import pytest
from blendgym_blender import remote
from blendgym_blender.attributes import AttributeRequestError, call_method, get_attribute, set_attribute

from blendgym import affinity


class Env:
    gravity = 9.81
    steps = 3
    label = "a"
    limit = None
    unlisted = 5  # public, but not in remote_attributes
    remote_attributes = ("gravity", "steps", "label", "limit")

    def __init__(self) -> None:
        self.scene = object()
        self._secret = 1

    @remote
    def scaled(self, factor: float) -> float:
        return self.gravity * factor

    def reset(self) -> None:
        raise AssertionError("must not be reachable")


def test_get_set_and_call_follow_the_rules() -> None:
    env = Env()
    assert get_attribute(env, "gravity") == 9.81
    set_attribute(env, "gravity", 3)  # an int may replace a float
    set_attribute(env, "limit", [1, 2])  # None holds any JSON value
    assert (env.gravity, env.limit) == (3, [1, 2])
    assert call_method(env, "scaled", [2.0], {}) == 6.0
    assert call_method(env, "steps", [], {}) == 3


def test_a_refusal_names_what_is_offered() -> None:
    with pytest.raises(
        AttributeRequestError, match=r"Env offers parameters \[\], attributes \['gravity', 'label', 'limit', 'steps'\] .*methods \['scaled'\]"
    ):
        set_attribute(Env(), "unlisted", 6)


def test_a_subclass_adds_to_what_its_bases_expose() -> None:
    class Sub(Env):
        remote_attributes = ("unlisted",)

    env = Sub()
    set_attribute(env, "unlisted", 6)
    set_attribute(env, "gravity", 1.0)  # still offered by the base class
    assert (env.unlisted, env.gravity) == (6, 1.0)
    with pytest.raises(AttributeRequestError):
        set_attribute(Env(), "unlisted", 6)


@pytest.mark.parametrize(
    ("action", "kind"),
    [
        (lambda env: get_attribute(env, "_secret"), AttributeError),
        (lambda env: get_attribute(env, "unlisted"), AttributeError),
        (lambda env: set_attribute(env, "unlisted", 6), AttributeError),
        (lambda env: call_method(env, "unlisted", [], {}), AttributeError),
        (lambda env: get_attribute(env, "missing"), AttributeError),
        (lambda env: get_attribute(env, "scaled"), AttributeError),
        (lambda env: set_attribute(env, "scene", 1), AttributeError),
        (lambda env: set_attribute(env, "created", 1), AttributeError),
        (lambda env: set_attribute(env, "steps", 1.5), TypeError),
        (lambda env: set_attribute(env, "label", 1), TypeError),
        (lambda env: set_attribute(env, "steps", True), TypeError),
        (lambda env: call_method(env, "reset", [], {}), AttributeError),
        (lambda env: call_method(env, "__init__", [], {}), AttributeError),
    ],
)
def test_what_is_not_offered_is_refused(action: object, kind: type) -> None:
    env = Env()
    with pytest.raises(AttributeRequestError) as refused:
        action(env)  # type: ignore[operator]
    assert refused.value.kind is kind
    assert not hasattr(env, "created") and env.steps == 3 and env.label == "a"


def test_placement_deals_blender_processes_over_the_cores_and_leaves_the_calling_thread_alone() -> None:
    if not affinity.supported() or len(os.sched_getaffinity(0)) < 2:
        pytest.fail("this test needs Linux with at least 2 usable CPUs")
    cores = sorted(os.sched_getaffinity(0))
    placement = affinity.place(3, "auto")
    assert set(placement) <= set(cores) and placement[0] != placement[1] and len(set(placement)) == min(3, len(cores))
    assert sorted(os.sched_getaffinity(0)) == cores
    assert affinity.place(2, None) == [None, None]
    assert affinity.place(2, [cores[1], cores[0]]) == [cores[1], cores[0]]
    assert affinity.place(1, cores[-1]) == [cores[-1]]
    with pytest.raises(ValueError, match="a list of 2 CPUs"):
        affinity.place(2, [cores[0]])
    with pytest.raises(ValueError, match="a CPU among"):
        affinity.place(1, max(cores) + 1)
