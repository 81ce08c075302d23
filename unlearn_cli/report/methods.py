"""A table row per method — and per preset and hyper-parameter value where a method was swept.

Runs of one method whose settings differ anywhere in the report are different rows. A row's
label is short enough for a plot's tick: the method; the preset (`scrub[natmu-cifar10]`)
where the method's runs used more than one (a preset changes many values at once, and its
name says which); then the values that still differ among the runs of that method and
preset (`ssd(alpha=10)`). The same label is used in every section and plot of the report,
so one row means one configuration throughout; summary.md lists every label's full settings.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from unlearn_cli.report.runs import RunRecord

RETRAIN = "retrain"
ORIGINAL = "original"  # the pretrained model, before any unlearning

# A leaf that names its parent's choice: `training.recipe.optimizer.name` is the optimizer.
GENERIC_LEAVES = frozenset({"name"})


def _differing_keys(records: list[RunRecord]) -> list[str]:
    keys = sorted({key for r in records for key in r.hyperparameters})
    return [key for key in keys if len({r.hyperparameters.get(key) for r in records}) > 1]


def _suffix(key: str, depth: int) -> str:
    parts = key.split(".")
    if len(parts) > 1 and parts[-1] in GENERIC_LEAVES:
        parts = parts[:-1]
    return ".".join(parts[-depth:])


def short_names(keys: list[str]) -> dict[str, str]:
    """The last part of each dotted key (`training.recipe.optimizer.lr` → `lr`; a generic
    leaf gives its parent: `training.recipe.optimizer.name` → `optimizer`), lengthened
    (`optimizer.lr`) only where two keys would share a name."""
    depth = dict.fromkeys(keys, 1)
    while True:
        names = {key: _suffix(key, depth[key]) for key in keys}
        counts = Counter(names.values())
        clashing = [key for key in keys if counts[names[key]] > 1 and depth[key] < key.count(".") + 1]
        if not clashing:
            # A clash no suffix resolves (`a` beside `a.name`) keeps the whole key.
            return {key: name if counts[name] == 1 else key for key, name in names.items()}
        for key in clashing:
            depth[key] += 1


def format_value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, tuple):
        return "/".join(format_value(v) for v in value)
    return "–" if value is None else str(value)


def _values_text(record: RunRecord, keys: list[str], names: dict[str, str]) -> str:
    return ", ".join(f"{names[k]}={format_value(record.hyperparameters.get(k))}" for k in keys)


def method_labels(records: Iterable[RunRecord]) -> dict[str, str]:
    """evaluation name → row label."""
    by_method: dict[str, list[RunRecord]] = defaultdict(list)
    for record in records:
        by_method[record.method].append(record)
    labels: dict[str, str] = {}
    for method, runs in by_method.items():
        by_preset: dict[str | None, list[RunRecord]] = defaultdict(list)
        for record in runs:
            by_preset[record.preset].append(record)
        show_preset = len(by_preset) > 1
        for preset, group in by_preset.items():
            head = f"{method}[{preset}]" if show_preset and preset else method
            keys = _differing_keys(group)
            names = short_names(keys)
            for record in group:
                labels[record.evaluation] = f"{head}({_values_text(record, keys, names)})" if keys else head
    return labels


@dataclass(frozen=True)
class MethodSettings:
    """What a row label stands for: its method, preset and every setting of its runs."""

    label: str
    method: str
    preset: str | None
    settings: str  # "alpha=0.5, lr=0.0005, optimizer=adamw, …"; unset (None) values left out


def method_settings(rows: Iterable[tuple[str, RunRecord]]) -> list[MethodSettings]:
    """One entry per label, from (label, one of its runs): every run of a label has the same
    settings, since any value that differs among a method's runs is part of its label."""
    out: dict[str, MethodSettings] = {}
    for label, record in rows:
        if label in out or record.method == ORIGINAL:
            continue
        keys = sorted(k for k, v in record.hyperparameters.items() if v is not None)
        names = short_names(keys)
        # The method's own parameters first, then its training settings.
        ordered = sorted(keys, key=lambda k: (k.startswith("training."), names[k]))
        out[label] = MethodSettings(label, record.method, record.preset, _values_text(record, ordered, names))
    return list(out.values())


def _value_key(value: Any) -> tuple:
    # Numbers in numeric order (alpha=1 < 10 < 100), then everything else by its text.
    if isinstance(value, bool) or not isinstance(value, int | float):
        return (1, 0.0, format_value(value))
    return (0, float(value), "")


def row_sort_key(label: str, record: RunRecord) -> tuple:
    """Retrain first (the gold standard), then the original model, then the methods by name
    (runs without a preset before those with one, presets by name), sweep rows in numeric
    order of their values."""
    rank = 0 if record.method == RETRAIN else 1 if record.method == ORIGINAL else 2
    values = tuple(_value_key(v) for _, v in sorted(record.hyperparameters.items()))
    return (rank, record.method, record.preset or "", values, label)
