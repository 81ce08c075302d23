"""Presets as TOML files: what `unlearn tune` writes and `--preset FILE` (and a grid's
`presets`/`preset`) reads, beside the registered presets of `presets.py`.

    name = "tuned-finetune"                 # shown in run names (letters, digits, . _ + -)
    setting = "tuned by unlearn tune …"     # what it was tuned on, for warnings
    datasets = ["digits"]
    base = "natmu-cifar10"                  # optional: a registered preset this one starts from

    [methods.finetune]
    params = { k = 2 }                      # the method's own parameters
    recipe = { lr = 0.0123, epochs = 3 }    # training settings: lr, epochs, weight_decay, batch_size

A preset file is input: every key is checked, unknown ones refused with the file named, and a
file over 64 KiB is not read.
"""

from __future__ import annotations

import json
import math
import re
import tomllib
from dataclasses import dataclass
from typing import Any

from unlearn_cli.errors import InputError
from unlearn_cli.methods.presets import Preset, PresetEntry
from unlearn_cli.paths import user_path

SUFFIX = ".toml"
MAX_BYTES = 64 * 1024
RECIPE_KEYS = ("lr", "epochs", "weight_decay", "batch_size")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,63}")


def is_preset_file(value: str) -> bool:
    """A `--preset` value names a file when it ends in .toml (registered presets never do)."""
    return value.endswith(SUFFIX)


@dataclass(frozen=True)
class PresetFile:
    """A preset file as written: its own values per method, over an optional registered base
    (whose other fields, such as an optimiser or a schedule, the entry keeps)."""

    name: str
    setting: str
    datasets: tuple[str, ...]
    base: str | None
    methods: dict[str, PresetEntry]

    def to_preset(self) -> Preset:
        from unlearn_cli.methods.presets import PRESETS

        base = PRESETS.get(self.base) if self.base is not None else None
        entries = {}
        for method, own in self.methods.items():
            under = base.methods.get(method) if base is not None else None
            entries[method] = own if under is None else PresetEntry(
                params={**under.params, **own.params}, recipe={**under.recipe, **own.recipe}, with_k=under.with_k)
        return Preset(self.name, self.setting, self.datasets, entries,
                      differences=f"over preset {self.base}" if self.base else "")


def read_preset_file(value: str) -> Preset:
    return parse_preset_file(value).to_preset()


def parse_preset_file(value: str) -> PresetFile:
    path = user_path(value)
    hint = "write it as `unlearn tune` does (see docs/tuning.md), or pass a registered preset (unlearn ls presets)"
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_BYTES + 1)
    except OSError as error:
        raise InputError(f"cannot read preset file {path}: {error.strerror or error}", hint=hint) from None
    if len(data) > MAX_BYTES:
        raise InputError(f"preset file {path} is over {MAX_BYTES // 1024} KiB", hint=hint)
    try:
        doc = tomllib.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        raise InputError(f"preset file {path} is not TOML: {error}", hint=hint) from None
    return _preset(doc, str(path), hint)


def _preset(doc: dict[str, Any], source: str, hint: str) -> PresetFile:
    def fail(problem: str) -> InputError:
        return InputError(f"preset file {source}: {problem}", hint=hint)

    unknown = sorted(set(doc) - {"name", "setting", "datasets", "base", "methods"})
    if unknown:
        raise fail(f"unknown key{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}")
    name = doc.get("name")
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise fail("name must be 1-64 letters, digits, '.', '_', '+' or '-', starting with a letter or digit")
    setting = doc.get("setting", "")
    datasets = doc.get("datasets", [])
    if not isinstance(setting, str) or not isinstance(datasets, list) or not all(isinstance(d, str) for d in datasets):
        raise fail("setting must be a string and datasets a list of dataset names")
    base = doc.get("base")
    if base is not None:
        from unlearn_cli.methods.presets import PRESETS

        if not isinstance(base, str) or base not in PRESETS:
            raise fail(f"base {base!r} is not a registered preset (valid: {', '.join(PRESETS.names())})")
    methods = doc.get("methods")
    if not isinstance(methods, dict) or not methods:
        raise fail("it has no [methods.<method>] table")
    entries = {}
    for method, entry in methods.items():
        if not isinstance(entry, dict) or set(entry) - {"params", "recipe"}:
            raise fail(f"[methods.{method}] may hold only params and recipe")
        params, recipe = entry.get("params", {}), entry.get("recipe", {})
        if not isinstance(params, dict) or not isinstance(recipe, dict):
            raise fail(f"[methods.{method}] params and recipe must be tables")
        bad = sorted(set(recipe) - set(RECIPE_KEYS))
        if bad:
            raise fail(f"[methods.{method}] recipe has unknown key{'s' if len(bad) > 1 else ''} {', '.join(bad)} "
                       f"(valid: {', '.join(RECIPE_KEYS)})")
        entries[method] = PresetEntry(params=dict(params), recipe=_recipe(recipe, method, fail))
    return PresetFile(name=name, setting=setting, datasets=tuple(datasets), base=base, methods=entries)


def _recipe(recipe: dict[str, Any], method: str, fail) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in recipe.items():
        integer = key in ("epochs", "batch_size")
        ok = (isinstance(value, int) and not isinstance(value, bool) and value >= 1) if integer else (
            isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value >= 0)
        if not ok:
            raise fail(f"[methods.{method}] recipe {key} = {value!r} is not a "
                       f"{'positive integer' if integer else 'non-negative number'}")
        out[key] = float(value) if key in ("lr", "weight_decay") else value
    return out


def preset_text(preset: PresetFile, comment: str = "") -> str:
    """The TOML of `preset` (scalars and lists of them), as `parse_preset_file` reads it."""
    lines = [f"# {line}" for line in comment.splitlines()]
    lines += [f"name = {_value(preset.name)}", f"setting = {_value(preset.setting)}",
              f"datasets = {_value(list(preset.datasets))}"]
    if preset.base is not None:
        lines.append(f"base = {_value(preset.base)}")
    for method, entry in preset.methods.items():
        lines += ["", f"[methods.{method}]",
                  f"params = {_inline(entry.params)}", f"recipe = {_inline(entry.recipe)}"]
    return "\n".join(lines) + "\n"


def _inline(table: dict[str, Any]) -> str:
    return "{ " + ", ".join(f"{key} = {_value(value)}" for key, value in table.items()) + " }" if table else "{}"


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value)  # the shortest text that reads back as the same float
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)  # a valid TOML basic string
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_value(item) for item in value) + "]"
    raise TypeError(f"a preset file cannot hold {type(value).__name__} {value!r}")
