"""Search spaces as data: the range each tuned setting is drawn from (torch-free).

A method declares its space where it is registered (`register_method(space=…)`): its own
parameters and the training settings of TRAINING_KEYS, each a `Range`. `unlearn tune --space`
overrides single keys with the same syntax `unlearn ls methods` shows:

    key=lo:hi          uniform (an integer range for an integer setting)
    key=lo:hi:log      log-uniform (both bounds positive)
    key=a,b,c          one of these values (any type: bool, a name, a number); one value pins it

Every bad key and range of one command is reported at once, as `--param` does.
"""

from __future__ import annotations

import math
import typing
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from unlearn_cli.errors import InputError
from unlearn_cli.params import _Bad, coerce, field_types, type_name

# The training settings a trial may draw, beside the method's own parameters: what
# `unlearn unlearn --lr/--epochs/--weight-decay/--batch-size` sets.
TRAINING_KEYS: dict[str, type] = {"lr": float, "epochs": int, "weight_decay": float, "batch_size": int}


@dataclass(frozen=True)
class Range:
    """Where one setting is drawn from: [low, high] (log-uniform with `log`; integers with
    `integer`), or one of `choices`."""

    low: float | None = None
    high: float | None = None
    log: bool = False
    integer: bool = False
    choices: tuple[Any, ...] | None = None

    def __post_init__(self) -> None:
        # A bad declared range is a bug in a registration; users' ranges are checked in
        # parse_space first, with messages.
        problem = None if self.choices is not None else bounds_problem(self.low, self.high, self.log, self.integer)
        if self.choices is not None and not self.choices:
            problem = "no value to choose from"
        if problem is not None:
            raise ValueError(problem)

    def describe(self) -> str:
        if self.choices is not None:
            return ",".join(_text(value) for value in self.choices)
        return f"{_text(self.low)}:{_text(self.high)}{':log' if self.log else ''}"


def bounds_problem(low: float | None, high: float | None, log: bool, integer: bool) -> str | None:
    """Why [low, high] cannot be searched, or None."""
    if low is None or high is None or not (math.isfinite(low) and math.isfinite(high)):
        return "its bounds must be finite numbers"
    if low >= high:
        return f"lo {_text(low)} is not below hi {_text(high)}"
    if log and low <= 0:
        return f"a log range needs positive bounds, not {_text(low)}"
    if integer and (low != int(low) or high != int(high)):
        return "an integer range needs integer bounds"
    return None


def uniform(low: float, high: float) -> Range:
    return Range(float(low), float(high))


def log_uniform(low: float, high: float) -> Range:
    return Range(float(low), float(high), log=True)


def integers(low: int, high: int, *, log: bool = False) -> Range:
    return Range(int(low), int(high), log=log, integer=True)


def choice(*values: Any) -> Range:
    return Range(choices=tuple(values))


def setting_types(params: type) -> dict[str, Any]:
    """Every key a space of a method with the params dataclass `params` may name, with its type."""
    return {**TRAINING_KEYS, **field_types(params)}


def _numeric(tp: Any) -> type | None:
    """int or float for a plain numeric setting (also `int | None`), else None (choices only)."""
    args = [a for a in typing.get_args(tp) if a is not type(None)] if typing.get_origin(tp) else [tp]
    return args[0] if len(args) == 1 and args[0] in (int, float) else None


def check_declared(space: Mapping[str, Range], params: type, owner: str) -> None:
    """A registration's space names only settings the method has (a bug otherwise)."""
    types = setting_types(params)
    for key, r in space.items():
        if key not in types:
            raise TypeError(f"{owner}: search space names {key!r}, which is not one of its settings")
        if r.integer and _numeric(types[key]) is not int:
            raise TypeError(f"{owner}: search space gives {key!r} an integer range, but it is {type_name(types[key])}")


def parse_space(items: Iterable[str], types: Mapping[str, Any], owner: str) -> dict[str, Range]:
    """`--space` items against the settings' types; every problem reported in one InputError."""
    out: dict[str, Range] = {}
    problems: list[str] = []
    for item in items:
        key, sep, text = item.partition("=")
        key, text = key.strip(), text.strip()
        if not sep or not key or not text:
            problems.append(f"{item!r} is not key=lo:hi[:log] or key=a,b,c")
            continue
        if key in out:
            problems.append(f"{key} is given twice")
            continue
        if key not in types:
            problems.append(f"{key} is not a setting of {owner}")
            continue
        try:
            out[key] = _parse_one(key, text, types[key])
        except _Bad as bad:
            problems.append(f"{key}={text}: {bad.args[0]}")
    if problems:
        valid = ", ".join(f"{name} ({type_name(tp)})" for name, tp in types.items())
        raise InputError(f"--space: {'; '.join(problems)}",
                         hint=f"settings of {owner}: {valid}; e.g. --space lr=1e-4:1e-1:log --space epochs=1:10")
    return out


def _parse_one(key: str, text: str, tp: Any) -> Range:
    numeric = _numeric(tp)
    if ":" in text:
        parts = text.split(":")
        if numeric is None:
            raise _Bad(f"{key} is {type_name(tp)}: list its values, e.g. {key}=a,b")
        if len(parts) not in (2, 3) or (len(parts) == 3 and parts[2].strip() != "log"):
            raise _Bad("write lo:hi or lo:hi:log")
        try:
            low, high = (coerce(part.strip(), numeric) for part in parts[:2])
        except _Bad:
            raise _Bad(f"the bounds must be {numeric.__name__}s") from None
        log = len(parts) == 3
        problem = bounds_problem(low, high, log, numeric is int)
        if problem is not None:
            raise _Bad(problem)
        return Range(low, high, log=log, integer=numeric is int)
    values = []
    for part in text.split(","):
        try:
            values.append(coerce(part.strip(), tp))
        except _Bad as bad:
            raise _Bad(f"{part.strip()!r} is not of type {type_name(tp)}{bad.args[0] if bad.args else ''}") from None
    return choice(*values)


def describe_space(space: Mapping[str, Range]) -> str:
    """`lr=1e-05:0.1:log epochs=1:10` as `unlearn ls methods` shows a space."""
    return " ".join(f"{key}={r.describe()}" for key, r in space.items())


def _text(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)
