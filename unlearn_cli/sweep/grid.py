"""Grid files: a TOML description of an experiment grid over the pipeline's steps.

A grid is read with `tomllib`, checked against `SCHEMA` (every unknown key or ill-typed value
is an error naming the file, the line and the valid keys), and split into *setting documents*:
the file with each `[[settings]]` entry merged over it (one document if there are none), and,
with `--smoke`, the `[smoke]` table merged over each of those (its own `settings` replace the
file's). Tables merge key by key; any other value — a list, an array of tables — replaces.
Every value remembers where in the file it came from, so errors found later (an unknown method
in a setting, a bad parameter under `[smoke]`) still point at their line.

The axes themselves (what crosses with what, and the names of the artifacts) are expanded by
`plan.py`; this module only knows the file's shape.
"""

from __future__ import annotations

import copy
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from unlearn_cli.errors import InputError
from unlearn_cli.forget.manipulations import check_known_fraction, check_size
from unlearn_cli.paths import user_path
from unlearn_cli.steps.options import check_objective, check_trials, check_val_fraction, check_width
from unlearn_cli.sweep.tomlindex import Path as KeyPath
from unlearn_cli.sweep.tomlindex import line_index, line_of
from unlearn_cli.train.options import GenericOptions

# ----------------------------------------------------------------------------- schema


@dataclass(frozen=True)
class Value:
    """A leaf: one of `types`, or (`axis`) a list of them — each element one grid value."""

    types: tuple[type, ...]
    axis: bool = True
    what: str = ""
    check: Callable[[Any], Any] | None = None  # the step's own rule for each value (raises InputError)

    def describe(self) -> str:
        return self.what or (" or ".join(_TYPE_NAMES[t] for t in self.types) + (" (or a list of them)" if self.axis else ""))


@dataclass(frozen=True)
class Table:
    """A table with fixed keys; `any_key` describes the values of a table with free keys."""

    keys: dict[str, Any] = field(default_factory=dict)
    any_key: Any = None


@dataclass(frozen=True)
class TableList:
    """An array of tables (`[[methods]]`), each checked against `table`."""

    table: Table


@dataclass(frozen=True)
class Params:
    """A method's `params`: name -> value, list of values (crossed), or {times, by}."""


_TYPE_NAMES = {str: "a string", int: "an integer", float: "a number", bool: "true/false", list: "a list"}
INT = Value((int,))
FLOAT = Value((float,))
STR = Value((str,))
BOOL = Value((bool,))
TEXT = Value((str, int), what="a string or integer (or a list of them)")

# The generic training options of a run, with the value types GenericOptions declares.


def _generic_check(name: str):
    """A generic option's range, by the one rule (`GenericOptions.check`), at the value's line."""
    return lambda value: GenericOptions.coerced({name: value}).check()


GENERIC = {name: Value((kind,), check=_generic_check(name)) for name, kind in GenericOptions.value_types().items()}

_SECTIONS: dict[str, Any] = {
    "datasets": STR,
    "models": STR,
    "presets": STR,
    "data": Table(any_key=Table({"source": Value((str,), axis=False), "download": Value((bool,), axis=False)})),
    "pretrain": Table({"recipe": STR, "seeds": INT, "width": Value((float,), check=partial(check_width, what="width")),
                       "val_fraction": Value((float,), check=check_val_fraction),
                       **{key: GENERIC[key] for key in ("epochs", "steps", "lr", "batch_size", "weight_decay")}}),
    "manipulation": Table({"kinds": STR, "sizes": Value((int,), check=partial(check_size, what="manipulation size")),
                           "known": Value((float,), check=partial(check_known_fraction, what="known fraction")),
                           "patch_size": INT, "target": TEXT, "classes": STR, "seeds": INT}),
    "forget": Table({"per": INT, "fraction": FLOAT, "class": TEXT, "subclass": STR, "indices": STR,
                     "difficulty": STR, "balance": BOOL, "seeds": INT}),
    "unlearn": Table({"seeds": INT, **GENERIC}),
    "methods": TableList(Table({"name": Value((str,), axis=False), "preset": Value((str,), axis=False),
                                "reference": Value((bool,), axis=False), "params": Params(), **GENERIC,
                                "models": STR, "datasets": STR,
                                # Tune the method first; its cells run with the study's best preset.
                                "tune": Table({"trials": Value((int,), axis=False, check=check_trials),
                                               "seeds": INT, "space": STR,
                                               "objective": Value((str,), axis=False, check=check_objective)})})),
    "evaluate": Table({"metrics": Value((str,), what="a list of metric names"),
                       "original": Value((bool,), axis=False), "seed": Value((int,), axis=False)}),
    "report": Table({"name": Value((str,), axis=False), "enabled": Value((bool,), axis=False)}),
}
SETTING = Table(dict(_SECTIONS))
SMOKE = Table({**_SECTIONS, "name": Value((str,), axis=False), "settings": TableList(SETTING)})
SCHEMA = Table({"name": Value((str,), axis=False), **_SECTIONS, "settings": TableList(SETTING), "smoke": SMOKE})

NO_PRESET = "none"


# ------------------------------------------------------------------------------ files


@dataclass
class GridFile:
    path: Path
    text: str
    data: dict[str, Any]
    lines: dict[KeyPath, int]

    def where(self, source: KeyPath) -> str:
        line = line_of(self.lines, source)
        return f"{self.path}:{line}" if line is not None else str(self.path)

    def error(self, source: KeyPath, message: str, hint: str | None = None) -> InputError:
        return InputError(f"{self.where(source)}: {message}", hint=hint)


def read_grid_file(path: Path) -> GridFile:
    path = user_path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(f"no grid file {path}", hint="pass the path of a .toml grid, e.g. grids/natmu-samplewise.toml") from None
    except (OSError, UnicodeDecodeError) as error:
        raise InputError(f"cannot read grid {path}: {error}", hint="check the file") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise InputError(f"{path}: not valid TOML: {error}", hint="fix the line it names (https://toml.io)") from None
    grid = GridFile(path, text, data, line_index(text))
    _check(grid, data, SCHEMA, ())
    return grid


def _key_text(path: KeyPath) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text or "(top level)"


def _check(grid: GridFile, value: Any, spec: Any, path: KeyPath) -> None:
    """Every key known, every value of the right type; raises at the first problem."""
    if isinstance(spec, Table):
        if not isinstance(value, dict):
            raise grid.error(path, f"{_key_text(path)} must be a table", hint="e.g. [pretrain] on a line of its own")
        for key, item in value.items():
            if spec.any_key is not None:
                _check(grid, item, spec.any_key, (*path, key))
            elif key not in spec.keys:
                where = f"in [{_key_text(path)}]" if path else "at the top level"
                raise grid.error((*path, key), f"unknown key '{key}' {where}",
                                 hint=f"valid keys here: {', '.join(spec.keys)}")
            else:
                _check(grid, item, spec.keys[key], (*path, key))
    elif isinstance(spec, TableList):
        if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
            raise grid.error(path, f"{_key_text(path)} must be an array of tables",
                             hint=f"write each entry under its own [[{path[-1]}]] header")
        for index, item in enumerate(value):
            _check(grid, item, spec.table, (*path, index))
    elif isinstance(spec, Params):
        if not isinstance(value, dict):
            raise grid.error(path, "params must be a table", hint="e.g. params = { alpha = [0.1, 1.0] }")
        for key, item in value.items():
            _check_param(grid, item, (*path, key))
    else:
        _check_value(grid, value, spec, path)


def _scalar_ok(value: Any, types: tuple[type, ...]) -> bool:
    if isinstance(value, bool):
        return bool in types
    if isinstance(value, int):
        return int in types or float in types
    if isinstance(value, float):
        return float in types
    return isinstance(value, tuple(t for t in types if t not in (bool, int, float)))


def _check_value(grid: GridFile, value: Any, spec: Value, path: KeyPath) -> None:
    items = value if isinstance(value, list) and spec.axis else [value]
    if isinstance(value, list) and not value:
        raise grid.error(path, f"{_key_text(path)} is an empty list", hint="give at least one value, or leave the key out")
    for index, item in enumerate(items):
        at = (*path, index) if items is value else path
        if not _scalar_ok(item, spec.types):
            raise grid.error(at, f"{_key_text(path)} = {item!r} is not {spec.describe()}",
                             hint=f"{_key_text(path)} takes {spec.describe()}")
        if spec.check is not None:
            try:
                spec.check(item)
            except InputError as error:
                raise grid.error(at, error.message, hint=error.hint) from None


def _check_param(grid: GridFile, value: Any, path: KeyPath) -> None:
    if isinstance(value, dict):
        if set(value) != {"times", "by"} or not isinstance(value["times"], str) or not isinstance(value["by"], list) \
                or not value["by"] or not all(_scalar_ok(v, (float,)) for v in value["by"]):
            raise grid.error(path, f"{_key_text(path)}: a table value must be {{ times = \"<other param>\", by = [numbers] }}",
                             hint="e.g. lam = { times = \"alpha\", by = [0.1, 1, 10] } gives lam = alpha × each factor")
        return
    if isinstance(value, list) and not value:
        raise grid.error(path, f"{_key_text(path)} is an empty list", hint="give at least one value")
    for item in value if isinstance(value, list) else [value]:
        if isinstance(item, (dict, list)):
            raise grid.error(path, f"{_key_text(path)}: values must be plain (string, number, true/false)",
                             hint="a list of values is crossed with the other parameters")


# ------------------------------------------------------------------- setting documents


@dataclass
class Doc:
    """One setting's merged document; `origin` maps a merged key path (prefix) to where in
    the file that value was written."""

    file: GridFile
    data: dict[str, Any]
    origin: dict[KeyPath, KeyPath]

    def source(self, path: KeyPath) -> KeyPath:
        for end in range(len(path), -1, -1):
            if path[:end] in self.origin:
                return (*self.origin[path[:end]], *path[end:])
        return path

    def where(self, path: KeyPath) -> str:
        return self.file.where(self.source(path))

    def error(self, path: KeyPath, message: str, hint: str | None = None) -> InputError:
        return self.file.error(self.source(path), message, hint)

    def get(self, path: KeyPath, default: Any = None) -> Any:
        value: Any = self.data
        for part in path:
            if isinstance(value, dict) and part in value:
                value = value[part]
            elif isinstance(value, list) and isinstance(part, int) and part < len(value):
                value = value[part]
            else:
                return default
        return value


def _merged(base: Doc, overlay: dict[str, Any], source: KeyPath) -> Doc:
    data = copy.deepcopy(base.data)
    origin = dict(base.origin)

    def merge(target: dict[str, Any], items: dict[str, Any], at: KeyPath, src: KeyPath) -> None:
        for key, value in items.items():
            here, there = (*at, key), (*src, key)
            if isinstance(value, dict) and isinstance(target.get(key), dict):
                merge(target[key], value, here, there)
                continue
            target[key] = copy.deepcopy(value)
            for old in [p for p in origin if p[:len(here)] == here]:
                del origin[old]
            origin[here] = there

    merge(data, overlay, (), source)
    return Doc(base.file, data, origin)


@dataclass
class Grid:
    file: GridFile
    name: str
    smoke: bool
    settings: list[Doc]


def load_grid(path: Path, *, smoke: bool = False) -> Grid:
    grid = read_grid_file(path)
    raw = grid.data
    base = Doc(grid, {k: v for k, v in raw.items() if k not in ("settings", "smoke")}, {(): ()})
    settings_source: KeyPath = ("settings",)
    settings = raw.get("settings", [])
    smoke_table: dict[str, Any] = {}
    if smoke:
        if "smoke" not in raw:
            raise InputError(f"{grid.path} has no [smoke] table", hint="run it without --smoke, or add a [smoke] table")
        smoke_table = {k: v for k, v in raw["smoke"].items() if k != "settings"}
        if "settings" in raw["smoke"]:
            settings, settings_source = raw["smoke"]["settings"], ("smoke", "settings")
    documents = []
    for index, setting in enumerate(settings or [{}]):
        doc = _merged(base, setting, (*settings_source, index)) if settings else base
        documents.append(_merged(doc, smoke_table, ("smoke",)) if smoke else doc)
    name = str(raw.get("name", grid.path.stem))
    if smoke:
        name = str(raw["smoke"].get("name", f"{name}-smoke"))
    return Grid(grid, name, smoke, documents)
