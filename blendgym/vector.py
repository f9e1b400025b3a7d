"""``BlenderVectorEnv``: a gymnasium VectorEnv whose sub-envs are a pool of Blender processes."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np
from blendgym_blender import wire
from gymnasium.spaces import Dict, Space
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space, iterate

from . import affinity
from .blender import find_blender
from .channel import decode_reply
from .env import (
    RENDER_MODES,
    LaunchOptions,
    Screenshot,
    check_display,
    reply_timeout,
    resolve_blend_file,
    resolve_env_class,
    screenshot_from_reply,
)
from .episodes import RESTART_INFO, Episodes, SubEnvResult
from .errors import BlenderEnvError, BlendgymError
from .pool import BlenderPool, Failure, FaultPolicy, LiveMember, Reply
from .process import LaunchSpec, uses_lane
from .spaces import ActionEncoder, to_gymnasium

# Attributes that live on the host, as they do on a single BlenderEnv; every other name goes to Blender.
HOST_ATTRIBUTES = frozenset({"render_mode", "spec", "metadata", "observation_space", "action_space", "env_id"})


class BlenderVectorEnv(VectorEnv[Any, Any, Any]):
    """``num_envs`` copies of a Blender env, one Blender process each, stepped at the same time from the
    calling thread: every request is sent before any reply is awaited, with no worker processes between.

    Registered as the ``vector_entry_point`` of every blendgym id::

        envs = gymnasium.make_vec("blendgym/CartPole-v0", num_envs=4, vectorization_mode="vector_entry_point")

    It behaves as gymnasium's ``SyncVectorEnv`` over ``num_envs`` ``gymnasium.make(id)`` envs: the same
    batches, autoreset modes (``NEXT_STEP``, the default, ``SAME_STEP`` with ``final_obs`` / ``final_info``,
    and ``DISABLED``), ``reset(seed=s)`` seeding env ``i`` with ``s + i``, ``options["reset_mask"]``, and
    truncation after ``max_episode_steps``.

    **Async stepping** (EnvPool's interface): ``send(actions, env_ids)`` sends without waiting, ``recv()``
    returns the first ``batch_size`` sub-envs to answer, with their indices in ``info["env_id"]``.

    **Crashes**: a Blender process that dies, or does not answer a step within ``timeout`` seconds, is
    killed and restarted; that sub-env's step comes back ``truncated`` (reward 0, the last observation), with
    ``info["blender_restart"]`` saying why, and its next episode runs in the new process. A process lost
    while resetting is restarted and reset again: nothing was running, so the new episode just starts, its
    reset info saying ``blender_restart`` too. The others are not disturbed. More than ``max_restarts``
    restarts of one sub-env within ``restart_window`` seconds raise ``BlenderRestartLimitError``. An
    exception raised by the Blender-side env's code is not a crash: it is raised here (``BlenderEnvError``,
    with Blender's traceback) and the vector env must be reset.

    **Attributes**: ``get_attr``, ``set_attr`` and ``call`` reach the Blender-side env objects
    (docs/protocol.md, "Attributes"); ``render_mode``, ``spec``, ``metadata`` and the spaces are answered here.

    Args:
        env_class: the Blender-side ``SceneEnv`` subclass, as for ``BlenderEnv``.
        num_envs: the number of sub-envs and Blender processes.
        autoreset_mode: see above.
        max_episode_steps: truncate episodes after this many steps (None: never).
        batch_size: how many sub-envs ``recv()`` waits for (default ``num_envs``).
        copy: taken as ``SyncVectorEnv`` takes it; every observation batch returned is a new array either way.
        live_env: which sub-env a ``"human"`` vector env shows: it runs in a Blender window and the others
            stay headless (docs/live.md).
        live_blender: the Blender executable of that sub-env (default: ``blender`` where it names an
            executable, else $BLENDGYM_BLENDER, else ``blender`` on PATH).
        max_restarts, restart_window: the restart limit above.
        keywords: the ``LaunchOptions``, as for ``BlenderEnv`` (with ``render_mode="rgb_array"``, ``render()``
            returns a tuple of every sub-env's image, as ``SyncVectorEnv`` does); the others go to
            ``env_class`` in every process (JSON values).
    """

    metadata: dict[str, Any] = {"render_modes": RENDER_MODES, "render_fps": 50, "autoreset_mode": AutoresetMode.NEXT_STEP}

    def __init__(
        self,
        env_class: str,
        num_envs: int = 1,
        *,
        autoreset_mode: AutoresetMode | str = AutoresetMode.NEXT_STEP,
        max_episode_steps: int | None = None,
        batch_size: int | None = None,
        copy: bool = True,
        live_env: int = 0,
        live_blender: str | os.PathLike[str] | None = None,
        max_restarts: int = 3,
        restart_window: float = 60.0,
        **keywords: Any,
    ) -> None:
        options, env_kwargs = LaunchOptions.split(keywords)
        blender, seed, timeout = options.blender, options.seed, options.timeout
        view = options.view()
        headless = find_blender(blender)
        live = None
        if view.human:
            if not 0 <= live_env < num_envs:
                raise ValueError(f"live_env={live_env} is not a sub-env index of num_envs={num_envs}")
            check_display()
            if live_blender is None and blender is not None and not headless.embedded:
                live_blender = headless.program
            live = LiveMember(live_env, find_blender(live_blender, executable=True), view, reply_timeout(timeout, True))
            view = dataclasses.replace(view, human=False)
        self.autoreset_mode = AutoresetMode(autoreset_mode)
        self.batch_size = num_envs if batch_size is None else batch_size
        if not 1 <= self.batch_size <= num_envs:
            raise ValueError(f"batch_size must be between 1 and num_envs={num_envs}, got {batch_size}")
        env_class = resolve_env_class(env_class)
        self.env_id = options.env_id or env_class
        self.num_envs = num_envs
        self.max_episode_steps = max_episode_steps
        self.render_mode = options.render_mode
        self._closed = True  # until the pool is up
        spec = LaunchSpec(
            headless,
            env_class,
            env_kwargs,
            self.env_id,
            view,
            resolve_blend_file(options.blend_file, self.env_id),
            options.startup_timeout,
            lane=uses_lane(options.transport, view),
        )
        self._pool = BlenderPool(
            spec,
            num_envs,
            seeds=[None if seed is None else seed + index for index in range(num_envs)],
            placement=affinity.place(num_envs, options.cpu_affinity),
            faults=FaultPolicy(reply_timeout(timeout, False), max_restarts, restart_window),
            live=live,
        )
        hello = self._pool.hello
        affinity.warn_once_if_torch_crowds_the_cores(num_envs, self.env_id)
        self.single_observation_space: Space[Any] = to_gymnasium(hello["observation_space"])
        self.single_action_space: Space[Any] = to_gymnasium(hello["action_space"])
        self.observation_space = batch_space(self.single_observation_space, num_envs)
        self.action_space = batch_space(self.single_action_space, num_envs)
        self.metadata = {**self.metadata, "render_fps": hello["render_fps"], "autoreset_mode": self.autoreset_mode}
        self._layout = wire.Layout(hello["observation_space"])
        self._encoder = ActionEncoder(hello["action_space"])
        self._action_batches: dict[int, Space[Any]] = {num_envs: self.action_space}
        # Each sub-env's observation as it came on the wire; a batch is made of them in one go when returned.
        self._observations: list[bytes | memoryview] = [bytes(self._layout.nbytes)] * num_envs
        self._episodes = Episodes(num_envs, self.env_id, self.autoreset_mode, max_episode_steps)
        self._in_flight: dict[int, str] = {}  # sub-env -> "step" or "reset", sent and not yet received
        self._ready: dict[int, Reply] = {}
        self._needs_reset = True
        self._every_env = list(range(num_envs))
        self._closed = False

    @property
    def pids(self) -> list[int]:
        """The process id of each sub-env's Blender process (they change when one is restarted)."""
        return [process.process.pid for process in self._pool.processes]

    # Gymnasium's VectorEnv ------------------------------------------------------------------------------

    def reset(self, *, seed: int | Sequence[int | None] | None = None, options: dict[str, Any] | None = None) -> tuple[Any, dict[str, Any]]:
        """Reset every sub-env, or those in ``options["reset_mask"]``; ``seed`` is an int (env ``i`` gets
        ``seed + i``), a list with one seed per sub-env, or None. The other options go to every sub-env."""
        self._check_open()
        seeds = self._seeds(seed)
        options = dict(options) if options is not None else None
        mask = self._reset_mask(options)
        if isinstance(seed, int):
            super().reset(seed=seed)
        indices = [index for index in range(self.num_envs) if mask[index]]
        infos: dict[str, Any] = {}
        for index, info in self._reset({index: wire.encode_reset(seeds[index], options) for index in indices}).items():
            infos = self._add_info(infos, info, index)
        return self._layout.unpack_batch(self._observations), infos

    def step(self, actions: Any) -> tuple[Any, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        """Step every sub-env with its row of ``actions`` (autoresetting as ``autoreset_mode`` says)."""
        self.send(actions)
        indices, observations, results = self._receive(self.num_envs)
        return (observations, *self._batch(results))

    def send(self, actions: Any, env_ids: Iterable[int] | None = None) -> None:
        """Send each sub-env in ``env_ids`` (default: all, in order) its row of ``actions``; returns at once.

        Every action is checked before anything is sent, so a bad one raises ValueError and changes nothing.
        """
        self._check_open()
        if self._needs_reset:
            raise BlenderEnvError(f"{self.env_id}: call reset() before step() or send(): no episodes are running")
        indices = self._every_env if env_ids is None else [int(index) for index in env_ids]
        requests: dict[int, tuple[bytes, str]] = {}
        for index, action in zip(indices, self._rows(actions, len(indices)), strict=True):
            if not 0 <= index < self.num_envs or index in requests or index in self._in_flight or index in self._ready:
                raise ValueError(f"{self.env_id}: env id {index} is out of range, repeated, or already has a step in flight")
            if self._episodes.next_request(index) == "reset":
                requests[index] = (wire.encode_reset(None, None), "reset")
                continue
            try:
                requests[index] = (self._encoder.encode(action), "step")
            except ValueError as error:
                raise ValueError(f"{self.env_id}[{index}]: {error}") from None
        for index in sorted(requests):
            frame, what = requests[index]
            lost = self._episodes.take_lost(index)
            if lost is not None and what == "step":
                self._ready[index] = lost
                continue
            self._pool.send(index, frame, what)
            self._in_flight[index] = what

    def recv(self) -> tuple[Any, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        """The results of the first ``batch_size`` sub-envs to answer since ``send``, ordered by their
        index, which ``info["env_id"]`` holds. The batch holds their rows only."""
        indices, observations, results = self._recv_each()
        rewards, terminations, truncations, infos = self._batch(results)
        infos["env_id"] = np.asarray(indices, dtype=np.int64)
        return observations, rewards, terminations, truncations, infos

    def _recv_each(self) -> tuple[list[int], Any, list[SubEnvResult]]:
        """``recv()`` before batching (what the SB3 VecEnv uses): the indices of the first ``batch_size``
        sub-envs to answer, their observation rows, and a ``SubEnvResult`` for each."""
        return self._receive(self.batch_size)

    def _reset_each(self, seeds: Sequence[int | None], options: Sequence[dict[str, Any] | None]) -> tuple[Any, list[dict[str, Any]]]:
        """Reset every sub-env with its own seed and options (SB3's ``seed()`` and ``set_options()``);
        returns the observation batch and each sub-env's info."""
        self._check_open()
        seeds, options = list(seeds), list(options)
        if len(seeds) != self.num_envs or len(options) != self.num_envs:
            raise ValueError(f"{self.env_id}: reset_each needs {self.num_envs} seeds and {self.num_envs} options")
        infos = self._reset({index: wire.encode_reset(seeds[index], options[index]) for index in range(self.num_envs)})
        return self._layout.unpack_batch(self._observations), [infos[index] for index in range(self.num_envs)]

    def call(self, name: str, *args: Any, **kwargs: Any) -> tuple[Any, ...]:
        """Call the method ``name`` of every Blender-side env (it must be marked ``@blendgym_blender.remote``);
        a data attribute's value is returned instead, as gymnasium does."""
        if name in HOST_ATTRIBUTES:
            return self.get_attr(name)
        return self._attribute_all([{"call": name, "args": args, "kwargs": kwargs}] * self.num_envs)

    def get_attr(self, name: str) -> tuple[Any, ...]:
        """The attribute ``name`` of every sub-env."""
        if name in HOST_ATTRIBUTES:
            return tuple(self._host_attribute(name) for _ in range(self.num_envs))
        return self._attribute_all([{"get": name}] * self.num_envs)

    def set_attr(self, name: str, values: list[Any] | tuple[Any, ...] | Any) -> None:
        """Set the Blender-side attribute ``name`` of every sub-env: to ``values[i]`` for a list or tuple,
        else to ``values`` (docs/protocol.md, "Attributes", says what may be set)."""
        if not isinstance(values, (list, tuple)):
            values = [values] * self.num_envs
        if len(values) != self.num_envs:
            raise ValueError(f"{self.env_id}: {len(values)} values for {self.num_envs} sub-envs")
        if name in HOST_ATTRIBUTES:
            raise AttributeError(f"{self.env_id}: {name!r} is fixed when the env is made")
        self._attribute_all([{"set": name, "value": value} for value in values])

    def _host_attribute(self, name: str) -> Any:
        """A sub-env's attribute that lives on the host (one of ``HOST_ATTRIBUTES``), as a single env has it."""
        if name in ("observation_space", "action_space"):
            return getattr(self, f"single_{name}")
        return getattr(self, name)

    def render(self) -> tuple[np.ndarray, ...] | None:
        """Every sub-env's current camera image with ``render_mode="rgb_array"``, else None (``"human"`` shows
        ``live_env`` in its window by itself)."""
        if self.render_mode != "rgb_array":
            return None
        images = self._ask({index: wire.IMAGE for index in self._every_env}, dict.fromkeys(self._every_env, "render"), wire.decode_image_reply)
        return tuple(images[index] for index in self._every_env)

    def screenshot(self) -> Screenshot:
        """The live sub-env's Blender window as shown now (``render_mode="human"``); see ``BlenderEnv.screenshot``."""
        live = self._pool.live
        if live is None:
            raise BlenderEnvError(f"{self.env_id}: no sub-env has a window: make the vector env with render_mode='human'")
        replies = self._ask({live.index: wire.WINDOW}, {live.index: "screenshot"}, lambda frame: frame)
        return screenshot_from_reply(replies[live.index], live.view)

    def close_extras(self, **kwargs: Any) -> None:
        """End every Blender process; ``close()`` calls this once."""
        self._closed = True
        self._pool.close()

    def __del__(self) -> None:
        if getattr(self, "_closed", True) is False:
            self.close()

    def __repr__(self) -> str:
        return f"BlenderVectorEnv({self.env_id}, num_envs={self.num_envs})"

    # Receiving ------------------------------------------------------------------------------------------

    def _reset(self, frames: dict[int, bytes]) -> dict[int, dict[str, Any]]:
        """Send each sub-env its reset request and wait for all; returns their infos."""
        self._drain()
        for index, frame in frames.items():
            self._episodes.take_lost(index)  # a new episode starts: nothing lost before it counts
            self._pool.send(index, frame, "reset")
        infos: dict[int, dict[str, Any]] = {}
        errors = []
        for index, reply in self._pool.collect(list(frames)):
            result = self._outcome(index, "reset", reply)
            if isinstance(result, BlendgymError):
                errors.append(result)
            else:
                infos[index] = result.info
        self._needs_reset = bool(errors)
        if errors:
            raise errors[0]
        return infos

    def _receive(self, count: int) -> tuple[list[int], Any, list[SubEnvResult]]:
        """Wait for ``count`` sub-envs; their indices in order, their observation rows and their results."""
        self._check_open()
        if len(self._in_flight) + len(self._ready) < count:
            raise BlenderEnvError(f"{self.env_id}: waiting for {count} sub-envs but only {len(self._in_flight) + len(self._ready)} were sent actions")
        replies = [self._ready.popitem() for _ in range(min(count, len(self._ready)))]
        if len(replies) < count:
            replies += self._pool.collect(list(self._in_flight), count - len(replies))
        outcomes: dict[int, SubEnvResult] = {}
        errors = []
        for index, reply in replies:
            what = self._in_flight.pop(index, "step")
            outcome = self._outcome(index, what, reply)
            if isinstance(outcome, BlendgymError):
                errors.append(outcome)
            else:
                outcomes[index] = outcome
        if self.autoreset_mode == AutoresetMode.SAME_STEP:
            self._reset_finished(outcomes)
        if errors:
            self._drain()
            self._needs_reset = True
            raise errors[0]
        indices = sorted(outcomes)
        observations = self._layout.unpack_batch([self._observations[index] for index in indices])
        return indices, observations, [outcomes[index] for index in indices]

    def _batch(self, results: list[SubEnvResult]) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        """Rewards, terminations, truncations and the vector info dict of sub-env results."""
        rewards = np.array([result.reward for result in results], dtype=np.float64)
        terminations = np.array([result.terminated for result in results], dtype=bool)
        truncations = np.array([result.truncated for result in results], dtype=bool)
        infos: dict[str, Any] = {}
        for row, result in enumerate(results):
            if result.final_obs is not None:
                infos = self._add_info(infos, {"final_obs": result.final_obs, "final_info": result.final_info}, row)
            if result.info:
                infos = self._add_info(infos, result.info, row)
        return rewards, terminations, truncations, infos

    def _outcome(self, index: int, what: str, reply: Reply) -> SubEnvResult | BlendgymError:
        if isinstance(reply, BlendgymError):
            return reply
        if isinstance(reply, Failure):
            if what == "reset":
                outcome = self._outcome(index, "reset", self._reset_again(index))
                if isinstance(outcome, SubEnvResult):
                    outcome.info = {**outcome.info, RESTART_INFO: reply.reason}
                return outcome
            return self._episodes.crashed(index, reply)
        name = self._pool.env_name(index)
        if what == "reset":
            info, self._observations[index] = decode_reply(name, what, self._split_reset, reply)
            self._episodes.started(index)
            return SubEnvResult(0.0, False, False, info)
        reward, terminated, truncated, info, self._observations[index] = decode_reply(name, what, self._split_step, reply)
        return self._episodes.stepped(index, reward, terminated, truncated, info)

    def _split_reset(self, reply: bytes) -> tuple[dict[str, Any], memoryview]:
        """A reset reply's info and its observation's bytes."""
        info, start = wire.split_reset_reply(reply)
        return info, self._layout.value_of(reply, start)

    def _split_step(self, reply: bytes) -> tuple[float, bool, bool, dict[str, Any], memoryview]:
        """A step reply's reward, terminated, truncated, info and its observation's bytes."""
        reward, terminated, truncated, info, start = wire.split_step_reply(reply)
        return reward, terminated, truncated, info, self._layout.value_of(reply, start)

    def _reset_finished(self, outcomes: dict[int, SubEnvResult]) -> None:
        """SAME_STEP: keep each finished episode's last observation and info, and reset those sub-envs now."""
        finished = [index for index in outcomes if self._episodes.finished[index]]
        for index in finished:
            outcomes[index].final_obs = self._layout.unpack(self._observations[index], 0)
            outcomes[index].final_info = outcomes[index].info
            self._pool.send(index, wire.encode_reset(None, None), "reset")
        for index, reply in self._pool.collect(finished):
            reset = self._outcome(index, "reset", reply)
            if isinstance(reset, BlendgymError):
                self._needs_reset = True
                self._drain()
                raise reset
            outcomes[index].info = reset.info

    def _reset_again(self, index: int) -> Reply:
        """Reset sub-env ``index`` whose reset was lost with its process, until a new process answers."""
        while True:
            self._pool.send(index, wire.encode_reset(None, None), "reset")
            reply = self._pool.collect([index])[0][1]
            if not isinstance(reply, Failure):
                return reply

    def _drain(self) -> None:
        """Collect and drop every outstanding reply (after an error or Ctrl-C), so each socket may send again."""
        self._in_flight.clear()
        self._ready.clear()
        for index, reply in self._pool.collect(self._pool.outstanding()):
            if isinstance(reply, Failure):
                self._episodes.lose(index, reply)

    # Attributes -----------------------------------------------------------------------------------------

    def _attribute_requests(self, requests: dict[int, dict[str, Any]]) -> dict[int, Any]:
        """Send attribute requests (docs/protocol.md, "Attributes") to the sub-envs named by the keys and
        return each value; ``get_attr``, ``set_attr`` and ``call`` use it, as does the SB3 VecEnv."""
        frames = {index: wire.encode_attribute(request) for index, request in requests.items()}
        whats = {
            index: next(f"{verb} {request[verb]!r}" for verb in ("get", "set", "call") if verb in request) for index, request in requests.items()
        }
        return self._ask(frames, whats, wire.decode_attribute_reply)

    def _ask(self, frames: dict[int, bytes], whats: dict[int, str], decode: Callable[[bytes], Any]) -> dict[int, Any]:
        """Send requests that leave the episodes alone to the sub-envs named by the keys; decode each reply."""
        self._check_open()
        if self._in_flight or self._ready:
            raise BlenderEnvError(f"{self.env_id}: {whats[next(iter(whats))]} requested while steps are in flight; recv() them first")
        for index, frame in frames.items():
            self._pool.send(index, frame, whats[index])
        values: dict[int, Any] = {}
        errors: list[BlendgymError] = []
        for index, reply in self._pool.collect(list(frames)):
            if isinstance(reply, Failure):
                self._episodes.lose(index, reply)
                errors.append(reply.error)
            elif isinstance(reply, BlendgymError):
                errors.append(reply)
            else:
                values[index] = decode_reply(self._pool.env_name(index), whats[index], decode, reply)
        if errors:
            raise errors[0]
        return values

    def _attribute_all(self, requests: list[dict[str, Any]]) -> tuple[Any, ...]:
        values = self._attribute_requests(dict(enumerate(requests)))
        return tuple(values[index] for index in range(self.num_envs))

    # Helpers --------------------------------------------------------------------------------------------

    def _rows(self, actions: Any, count: int) -> Iterable[Any]:
        if isinstance(self.single_action_space, Dict):
            space = self._action_batches.get(count)
            if space is None:
                space = self._action_batches[count] = batch_space(self.single_action_space, count)
            rows: Any = list(iterate(space, actions))
        else:
            rows = actions if isinstance(actions, np.ndarray) else np.asarray(actions)
        if len(rows) != count:
            raise ValueError(f"{self.env_id}: {len(rows)} actions for {count} sub-envs")
        return rows

    def _seeds(self, seed: int | Sequence[int | None] | None) -> list[int | None]:
        if seed is None:
            return [None] * self.num_envs
        if isinstance(seed, (int, np.integer)):
            return [int(seed) + index for index in range(self.num_envs)]
        seeds = list(seed)
        if len(seeds) != self.num_envs:
            raise ValueError(f"{self.env_id}: {len(seeds)} seeds for {self.num_envs} sub-envs")
        return seeds

    def _reset_mask(self, options: dict[str, Any] | None) -> np.ndarray:
        if options is None or "reset_mask" not in options:
            return np.ones(self.num_envs, dtype=bool)
        mask = options.pop("reset_mask")
        if not isinstance(mask, np.ndarray) or mask.dtype != np.bool_ or mask.shape != (self.num_envs,):
            raise ValueError(f"{self.env_id}: options['reset_mask'] must be a bool numpy array of shape ({self.num_envs},)")
        if not mask.any():
            raise ValueError(f"{self.env_id}: options['reset_mask'] selects no sub-env")
        if self._needs_reset and not mask.all():
            raise BlenderEnvError(f"{self.env_id}: the first reset() must reset every sub-env")
        return mask

    def _check_open(self) -> None:
        if self._closed:
            raise BlendgymError(f"{self.env_id}: the vector env is closed; make a new one")
