"""Typed, frozen configuration: one dataclass per ``params.yaml`` section.

Each module that needs settings declares its own frozen dataclass; entry points
load their section with :func:`load_section`. The library never reads
``params.yaml`` by itself.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

import yaml

T = TypeVar("T")
logger = logging.getLogger(__name__)
DEFAULT_PARAMS = Path("params.yaml")


class ConfigError(ValueError):
    """A params section does not fit its dataclass."""


def params_file(given: str | Path | None) -> Path | None:
    """The params file a command reads.

    ``given`` (``--params``) must be a file: a missing one is an error, never a silent run on
    defaults. Without it, ``params.yaml`` in the working folder when present; else None: every
    setting at its built-in default (said in a warning).
    """
    if given is not None:
        path = Path(given)
        if not path.is_file():
            what = "is a folder, not a file" if path.is_dir() else "does not exist"
            raise ConfigError(f"params file {path} (--params) {what}")
        return path
    if DEFAULT_PARAMS.is_file():
        return DEFAULT_PARAMS
    logger.warning(
        "no %s in %s: every setting at its built-in default (--params FILE to use one)",
        DEFAULT_PARAMS,
        Path.cwd(),
    )
    return None


def load_settings(given: str | Path | None, section: str, cls: type[T]) -> T:
    """Section ``section`` of the params file :func:`params_file` picks, or ``cls()`` when
    there is none. A params file without the section is an error (:class:`ConfigError`)."""
    path = params_file(given)
    return cls() if path is None else load_section(path, section, cls)


def load_params(path: str | Path = "params.yaml") -> dict[str, Any]:
    """The whole params file as plain data; a file that cannot be read or parsed as YAML is
    a :class:`ConfigError` naming it."""
    try:
        with open(path, encoding="utf-8") as fh:
            data = yaml.safe_load(fh) or {}
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        reason = " ".join(str(exc).split()) or type(exc).__name__  # one line
        raise ConfigError(f"params file {path} cannot be read: {reason}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    return data


def load_section(path: str | Path, section: str, cls: type[T]) -> T:
    """Build ``cls`` from section ``section`` of the params file at ``path``."""
    params = load_params(path)
    if section not in params:
        raise ConfigError(
            f"params file {path} has no section {section!r} (write `{section}: {{}}` for "
            "the built-in defaults)"
        )
    return from_dict(cls, params[section], where=f"{path}:{section}")


def from_dict(cls: type[T], data: Any, where: str = "params") -> T:
    """Build a (nested) frozen dataclass from plain data; unknown keys are an error (one
    the class lists in a ``MOVED_KEYS`` class attribute says where it moved)."""
    if not dataclasses.is_dataclass(cls):
        raise TypeError(f"{cls!r} is not a dataclass")
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a mapping, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    moved: dict[str, str] = getattr(cls, "MOVED_KEYS", {})  # old key -> where it went
    gone = [k for k in unknown if k in moved]
    if gone:
        raise ConfigError(
            f"{where}: {', '.join(f'{k!r} moved to {moved[k]}' for k in gone)}; "
            "update the params file"
        )
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {unknown}; expected some of {sorted(names)}")
    kwargs = {k: _convert(hints[k], v, f"{where}.{k}") for k, v in data.items()}
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as exc:  # ValueError: the dataclass's own checks
        raise ConfigError(f"{where}: {exc}") from exc


def _convert(tp: Any, value: Any, where: str) -> Any:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return _convert(inner[0], value, where) if len(inner) == 1 else value
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        return from_dict(tp, value, where)
    if origin is tuple:
        items = list(value) if isinstance(value, (list, tuple)) else [value]
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_convert(args[0], v, where) for v in items)
        return tuple(_convert(a, v, where) for a, v in zip(args, items, strict=True))
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping")
        return {k: _convert(args[1], v, f"{where}.{k}") for k, v in value.items()}
    if tp is dt.date:
        if isinstance(value, dt.datetime):
            return value.date()
        if isinstance(value, dt.date):
            return value
        try:
            return dt.date.fromisoformat(str(value))
        except ValueError as exc:
            raise ConfigError(f"{where}: {value!r} is not an ISO date") from exc
    if tp is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if tp in (int, str, bool) and not isinstance(value, tp):
        raise ConfigError(f"{where}: expected {tp.__name__}, got {value!r}")
    return value
