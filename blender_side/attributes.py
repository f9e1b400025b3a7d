"""What ``A`` (attribute) requests may reach on an env object: docs/protocol.md, "Attributes".

The env class decides what is reachable, by declaration only; a request only names it. Declared parameters
(``parameters``, blender_side/parameters.py) are read and set through the env's checks. Data attributes that
the class lists in ``remote_attributes`` (any class of its hierarchy) can be read and replaced by a JSON value of the
same kind, and only methods marked ``@remote`` can be called (``call`` on an exposed data attribute returns its
value, as gymnasium's vector ``call`` does). Everything else, the base class's bookkeeping (``frame``,
``start_frame``, ...) in particular, is refused. Imports no bpy, so the rules are tested without Blender.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

Method = TypeVar("Method", bound=Callable[..., Any])

REMOTE_MARK = "__blendgym_remote__"
EXPOSED = "remote_attributes"
JSON_KINDS: tuple[type, ...] = (bool, int, float, str, list, dict, type(None))


def remote(method: Method) -> Method:
    """Let hosts call this env method by name (``call`` / ``env_method``); its arguments and result are JSON."""
    setattr(method, REMOTE_MARK, True)
    return method


class AttributeRequestError(Exception):
    """A request for something the env does not offer; ``kind`` is the Python exception type to report."""

    def __init__(self, kind: type[Exception], message: str) -> None:
        super().__init__(message)
        self.kind = kind


def get_attribute(env: object, name: str) -> Any:
    if _is_parameter(env, name):
        return _json_value(env.params[name])  # type: ignore[attr-defined]
    return _exposed_value(env, name)


def set_attribute(env: object, name: str, value: Any) -> None:
    if _is_parameter(env, name):
        env.set_parameters({name: value})  # type: ignore[attr-defined]  # raises ValueError for a bad value
        return
    current = _exposed_value(env, name)
    if not isinstance(current, JSON_KINDS):
        raise AttributeRequestError(AttributeError, f"{name!r} holds a {type(current).__name__}, which cannot be set remotely")
    if not _same_kind(current, value):
        raise AttributeRequestError(TypeError, f"{name!r} holds a {type(current).__name__}; got a {type(value).__name__}")
    setattr(env, name, value)


def call_method(env: object, name: str, args: list[Any], kwargs: dict[str, Any]) -> Any:
    """Call a method marked ``@remote``; an exposed data attribute's value is returned instead, as gymnasium's
    ``call`` does."""
    if _is_parameter(env, name) or (isinstance(name, str) and name in _exposed(env)):
        return get_attribute(env, name)
    method = _public(env, name)
    if not callable(method) or not getattr(method, REMOTE_MARK, False):
        raise AttributeRequestError(AttributeError, f"{name!r} is not a method marked @blendgym_blender.remote. {_offered(env)}")
    return method(*args, **kwargs)


def _exposed(env: object) -> set[str]:
    """The data attributes that ``env``'s classes list in ``remote_attributes``."""
    return {name for klass in type(env).__mro__ for name in vars(klass).get(EXPOSED, ())}


def _exposed_value(env: object, name: str) -> Any:
    if not isinstance(name, str) or name not in _exposed(env):
        raise AttributeRequestError(AttributeError, f"{name!r} is not offered remotely. {_offered(env)}")
    value = _public(env, name)
    if callable(value):
        raise AttributeRequestError(AttributeError, f"{name!r} is a method: use call, not get")
    return value


def _offered(env: object) -> str:
    """What ``env`` offers, for error messages."""
    parameters = sorted(getattr(type(env), "parameters", None) or {})
    methods = sorted(name for name in dir(type(env)) if not name.startswith("_") and getattr(getattr(type(env), name, None), REMOTE_MARK, False))
    return (
        f"{type(env).__name__} offers parameters {parameters}, attributes {sorted(_exposed(env))} "
        f"(its remote_attributes) and methods {methods} (marked @blendgym_blender.remote)"
    )


def _is_parameter(env: object, name: str) -> bool:
    declared = getattr(type(env), "parameters", None)
    return isinstance(declared, dict) and isinstance(name, str) and name in declared


def _json_value(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def _public(env: object, name: str) -> Any:
    if not isinstance(name, str) or not name or name.startswith("_"):
        raise AttributeRequestError(AttributeError, f"{name!r} is not a public attribute name")
    try:
        return getattr(env, name)
    except AttributeError:
        raise AttributeRequestError(AttributeError, f"{type(env).__name__} has no attribute {name!r}") from None


def _same_kind(current: Any, value: Any) -> bool:
    if isinstance(current, bool) or isinstance(value, bool):
        return isinstance(current, bool) and isinstance(value, bool)
    if isinstance(current, float):
        return isinstance(value, (int, float))
    if current is None or value is None:  # An optional setting: anything JSON, or back to unset.
        return True
    return type(current) is type(value)
