"""Typed parameters from `key=value` strings: one parser for every registry with parameters.

A method (or forget-set kind) declares its parameters as a frozen dataclass with typed,
defaulted fields. `resolve_params` builds an instance from a mapping of values — strings from
`--param key=value`, or real values from presets — coercing each to its annotated type and
reporting *every* unknown key and bad value in one error, with the valid keys and their types.
Value checks that need more than a type (ranges) live in the dataclass's `__post_init__`.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import types
import typing
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from unlearn_cli.errors import InputError

_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}


class _Bad(Exception):
    """A value that does not fit its field's type (collected, then reported together)."""


def parse_assignments(items: Iterable[str]) -> dict[str, str]:
    """`["alpha=0.5", "k=2"]` → `{"alpha": "0.5", "k": "2"}`; a malformed or repeated item
    is an InputError (the last of two equal keys would otherwise win silently)."""
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise InputError(f"--param {item!r} is not key=value", hint="e.g. --param alpha=0.5")
        if key in out:
            raise InputError(f"--param {key} is given twice", hint="give each parameter once")
        out[key] = value.strip()
    return out


def type_name(tp: Any) -> str:
    """A readable name of a field type for hints and `unlearn ls` (`float`, `int | None`)."""
    origin = typing.get_origin(tp)
    if origin is typing.Literal:
        return " | ".join(repr(c) for c in typing.get_args(tp))
    if origin in (typing.Union, types.UnionType):
        return " | ".join("None" if a is type(None) else type_name(a) for a in typing.get_args(tp))
    if origin is tuple:
        return f"tuple[{type_name(typing.get_args(tp)[0])}, ...]"
    return getattr(tp, "__name__", str(tp))


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    # Evaluating a dataclass's string annotations compiles each one; a sweep's planner resolves
    # the same few classes thousands of times (it was 60 % of planning a 3 900-run grid).
    return typing.get_type_hints(cls)


def field_types(cls: type) -> dict[str, Any]:
    """The resolved annotation of every field of `cls` (computed once per class)."""
    return dict(_hints(cls))


def describe_fields(cls: type) -> list[tuple[str, str, Any]]:
    """(name, type name, default) of every field of a params dataclass, in order."""
    hints = _hints(cls)
    rows = []
    for f in dataclasses.fields(cls):
        default = f.default if f.default is not dataclasses.MISSING else (
            f.default_factory() if f.default_factory is not dataclasses.MISSING else None)
        rows.append((f.name, type_name(hints[f.name]), default))
    return rows


def resolve_params(cls: type, values: Mapping[str, Any] | None, owner: str) -> Any:
    """An instance of the frozen dataclass `cls` from defaults overridden by `values`.

    `owner` names whose parameters these are in messages (e.g. "method 'scrub'")."""
    values = dict(values or {})
    fields = {f.name: f for f in dataclasses.fields(cls)}
    hints = _hints(cls)
    problems: list[str] = []
    unknown = sorted(set(values) - set(fields))
    if unknown:
        problems.append(f"unknown parameter{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}")
    coerced: dict[str, Any] = {}
    for key, value in values.items():
        if key not in fields:
            continue
        try:
            coerced[key] = coerce(value, hints[key])
        except _Bad as bad:
            problems.append(f"{key}={value!r} is not a valid {type_name(hints[key])}{bad.args[0] if bad.args else ''}")
    missing = [name for name, f in fields.items() if name not in values
               and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
    if missing:
        problems.append(f"missing parameter{'s' if len(missing) > 1 else ''} {', '.join(missing)}")
    if problems:
        valid = ", ".join(f"{name} ({type_name(hints[name])})" for name in fields) or "(none)"
        raise InputError(f"{owner}: {'; '.join(problems)}", hint=f"valid parameters: {valid}")
    return cls(**coerced)


def coerce(value: Any, tp: Any) -> Any:
    """`value` (a string from the command line, or a real value from a preset) as type `tp`."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if type(None) in args and (value is None or (isinstance(value, str) and value.strip().lower() in ("none", ""))):
            return None
        for arg in args:
            if arg is type(None):
                continue
            try:
                return coerce(value, arg)
            except _Bad:
                continue
        raise _Bad()
    if origin is typing.Literal:
        choices = typing.get_args(tp)
        if value in choices:
            return value
        raise _Bad(f" (one of {', '.join(map(repr, choices))})")
    if origin is tuple:
        item_type = typing.get_args(tp)[0]
        items = value.split(",") if isinstance(value, str) else list(value)
        return tuple(coerce(item.strip() if isinstance(item, str) else item, item_type) for item in items if item != "")
    if tp is bool:
        if isinstance(value, (bool, np.bool_)):
            return bool(value)
        if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
            return value.strip().lower() in _TRUE
        raise _Bad()
    if tp is int:
        if isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_)):
            return int(value)
        if isinstance(value, str) and value.strip().lstrip("+-").isascii() and value.strip().lstrip("+-").isdigit():
            return int(value.strip())
        raise _Bad()
    if tp is float:
        if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_)):
            number = float(value)
        elif isinstance(value, str):
            try:
                number = float(value.strip())
            except ValueError:
                raise _Bad() from None
        else:
            raise _Bad()
        if math.isnan(number):
            raise _Bad(" (NaN)")
        return number
    if tp is str:
        if isinstance(value, str):
            return value
        if isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_)):
            return str(int(value))
        raise _Bad()
    if tp is Path:
        if isinstance(value, (str, Path)):
            return Path(value)
        raise _Bad()
    raise TypeError(f"unsupported parameter type {tp!r}")
