"""The base class of every Blender-side env.

A ``SceneEnv`` owns a Blender scene and steps it frame by frame. Subclasses pose the scene for a new
episode, apply an action before each frame's physics and read what happened after it; this class keeps
Blender's rigid-body point cache in order so that the simulation really advances and episodes are
bit-for-bit repeatable (docs/blender.md, "Stepping rigid-body physics frame by frame").
"""

from __future__ import annotations

import abc
from typing import Any, ClassVar

import bpy
import numpy as np

from . import parameters
from .parameters import Parameterized
from .spaces import Space

# Blender's largest frame number. The rigid-body cache freezes the simulation at its frame_end, so episodes
# may run up to here; the cost of a step grows with the cached frames, which reset() discards.
LAST_FRAME = 1_048_574
# The point cache keeps a byte per frame of its range and clears them all twice at every reset: a range up
# to LAST_FRAME took ~100 µs of a ~290 µs CartPole reset. An episode starts with CACHE_FRAMES frames of
# range, doubled whenever it reaches the end (the simulation goes on unchanged) and cut back at reset.
CACHE_FRAMES = 4096


class SceneEnv(Parameterized, abc.ABC):
    """A Blender scene driven as an RL environment, one step being ``frame_skip`` frames.

    Subclasses set ``observation_space`` and ``action_space`` (from ``blendgym_blender.spaces``) in their
    ``__init__`` and implement the hooks below. ``self.np_random`` is the episode's random generator,
    seeded by ``reset(seed=...)``; use it for every random choice, or episodes will not repeat.

    **Parameters** (docs/envs.md): ``parameters`` declares the scene settings that users may change, each
    with its kind, range and default; ``self.params`` holds their values and ``apply_parameters`` puts
    changed ones into the scene. ``reset(options=...)`` takes parameter names besides the env's own
    ``reset_options``, and ``"randomize"``: the list of parameters (``self.randomized``) drawn from their
    ranges at every reset from then on. Values last until changed. Every value is checked before any is applied, so a bad one changes nothing.
    """

    observation_space: Space
    action_space: Space
    frame_skip: int = 1
    # The env's own reset options (besides parameters), rejected up front when unknown; None lets
    # ``start_episode`` check them itself.
    reset_options: ClassVar[frozenset[str] | None] = None
    # Data attributes that hosts may read and set (docs/protocol.md, "Attributes"); subclasses list their own.
    remote_attributes: ClassVar[tuple[str, ...]] = ("randomized",)

    def __init__(self, scene: bpy.types.Scene | None = None) -> None:
        super().__init__()
        self.scene = scene if scene is not None else bpy.context.scene
        self.np_random = np.random.default_rng()
        self._randomized: list[str] = []
        self.start_frame = self.scene.frame_start
        self.frame = self.start_frame
        self.scene.frame_end = LAST_FRAME
        world = self.scene.rigidbody_world
        if world is not None:
            world.point_cache.frame_start = self.start_frame
        self.first_cache_end = min(self.start_frame + CACHE_FRAMES - 1, LAST_FRAME)
        self._set_cache_end(self.first_cache_end)

    @property
    def render_fps(self) -> float:
        """Steps per second of simulated time."""
        return self.scene.render.fps / self.scene.render.fps_base / self.frame_skip

    # Hooks ----------------------------------------------------------------------------------------------

    @abc.abstractmethod
    def start_episode(self, options: dict[str, Any]) -> None:
        """Pose the scene for a new episode. The scene is at its start frame; ``options`` is reset's."""

    def launch_episode(self) -> None:
        """Called once the start poses are in the simulation, before the first observation.

        May call ``advance_frame`` (for instance to give bodies their start velocities). Does nothing by default.
        """

    @abc.abstractmethod
    def apply_action(self, action: Any) -> None:
        """Set what the action changes (motor targets, forces, kinematic poses) before a frame's physics.

        Called once for each of the ``frame_skip`` frames of a step.
        """

    @abc.abstractmethod
    def observe(self) -> Any:
        """The observation of the current frame, a value of ``observation_space``."""

    @abc.abstractmethod
    def score(self, observation: Any) -> tuple[float, bool]:
        """The step's reward and whether the episode has terminated, given the new observation."""

    def info(self) -> dict[str, Any]:
        """Extra information about the current frame (JSON-serialisable). Empty by default."""
        return {}

    # Parameters -----------------------------------------------------------------------------------------

    @property
    def randomized(self) -> list[str]:
        """The parameters drawn from their declared ranges at every reset (with the episode's generator)."""
        return list(self._randomized)

    @randomized.setter
    def randomized(self, names: list[str]) -> None:
        self._randomized = self._checked_names(names)

    def _checked_names(self, names: Any) -> list[str]:
        if not isinstance(names, (list, tuple)) or not all(isinstance(name, str) for name in names):
            raise ValueError(f"'randomize' takes a list of parameter names, got {names!r}")
        unknown = sorted(set(names) - set(self.parameters))
        if unknown:
            raise ValueError(
                f"cannot randomize {unknown}{parameters.did_you_mean(unknown, self.parameters)}: "
                f"this env declares the parameters {sorted(self.parameters)}"
            )
        return list(names)

    # Driven by the agent --------------------------------------------------------------------------------

    def reset(self, seed: int | None, options: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
        own = {name: value for name, value in options.items() if name not in self.parameters and name != "randomize"}
        if self.reset_options is not None and not set(own) <= self.reset_options:
            unknown = sorted(set(own) - self.reset_options)
            known = [*self.reset_options, *self.parameters, "randomize"]
            raise ValueError(
                f"unknown reset options {unknown}{parameters.did_you_mean(unknown, known)}; {type(self).__name__} takes "
                f"{sorted(self.reset_options)}, its parameters {sorted(self.parameters)} and 'randomize' (a list of them)"
            )
        values = parameters.check_all(self.parameters, {name: value for name, value in options.items() if name in self.parameters})
        randomized = self._checked_names(options.get("randomize", self._randomized))
        if seed is not None:
            self.np_random = np.random.default_rng(seed)
        drawn = {name: self.parameters[name].sample(self.np_random) for name in randomized if name not in values}
        previous = dict(self.params)
        self._apply_checked({**drawn, **values})  # draws come from the declared ranges
        try:
            self._start(own)
        except BaseException:
            self._apply_checked(previous)
            raise
        self._randomized = randomized
        info = self.info()
        if randomized:
            info = {**info, "parameters": {name: self.params[name] for name in randomized}}
        return self.observe(), info

    def _start(self, options: dict[str, Any]) -> None:
        self.scene.frame_set(self.start_frame)
        if self.cache_end != self.first_cache_end:
            self._set_cache_end(self.first_cache_end)
        self.start_episode(options)
        # Pose edits reach the simulation only if the cache is marked outdated and the start frame is set
        # again; touching any rigid-body world property marks it.
        world = self.scene.rigidbody_world
        if world is not None:
            world.time_scale = world.time_scale
        self.scene.frame_set(self.start_frame)
        self.frame = self.start_frame
        self.launch_episode()

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict[str, Any]]:
        for _ in range(self.frame_skip):
            self.apply_action(action)
            self.advance_frame()
        observation = self.observe()
        reward, terminated = self.score(observation)
        return observation, reward, terminated, False, self.info()

    def advance_frame(self) -> None:
        """Simulate one more frame. The simulation advances only from the last simulated frame to the next."""
        if self.frame >= LAST_FRAME:
            raise RuntimeError(f"the episode reached Blender's last frame ({LAST_FRAME}); call reset()")
        if self.frame >= self.cache_end:
            self._set_cache_end(self.start_frame + 2 * (self.cache_end - self.start_frame + 1) - 1)
        self.frame += 1
        self.scene.frame_set(self.frame)

    def _set_cache_end(self, end: int) -> None:
        """Set the last frame of the rigid-body point cache's range, where the simulation would freeze."""
        self.cache_end = min(end, LAST_FRAME)
        world = self.scene.rigidbody_world
        if world is not None:
            world.point_cache.frame_end = self.cache_end


def option_vector(options: dict[str, Any], name: str, size: int, layout: str = "") -> np.ndarray:
    """The reset option ``name`` as ``size`` finite float64 numbers, or a ValueError that says what it must be
    (``layout`` names the numbers, as in "[x, y]")."""
    value = np.asarray(options[name], dtype=np.float64)
    if value.shape != (size,) or not np.all(np.isfinite(value)):
        raise ValueError(f"options[{name!r}] must be {size} finite numbers{' ' + layout if layout else ''}, got {options[name]!r}")
    return value
