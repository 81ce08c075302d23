"""A table row per method — and per hyper-parameter value where a method was swept.

Runs of one method whose hyper-parameters differ anywhere in the report (a sweep of SSD's
alpha, of an lr) are different rows, labelled by the values that differ (`ssd(alpha=10)`);
the same label is used in every section and plot of the report, so one row means one
configuration throughout.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from unlearn_cli.report.runs import RunRecord

RETRAIN = "retrain"
ORIGINAL = "original"  # the pretrained model, before any unlearning


def _differing_keys(records: list[RunRecord]) -> list[str]:
    keys = sorted({key for r in records for key in r.hyperparameters})
    return [key for key in keys if len({r.hyperparameters.get(key) for r in records}) > 1]


def _short_names(keys: list[str]) -> dict[str, str]:
    """The last part of a dotted key (`training.optimizer.lr` → `lr`) unless two keys share it."""
    leaves = [key.rsplit(".", 1)[-1] for key in keys]
    return {key: leaf if leaves.count(leaf) == 1 else key for key, leaf in zip(keys, leaves)}


def format_value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, tuple):
        return "/".join(format_value(v) for v in value)
    return "–" if value is None else str(value)


def method_labels(records: Iterable[RunRecord]) -> dict[str, str]:
    """evaluation name → row label."""
    by_method: dict[str, list[RunRecord]] = defaultdict(list)
    for record in records:
        by_method[record.method].append(record)
    labels: dict[str, str] = {}
    for method, runs in by_method.items():
        keys = _differing_keys(runs)
        short = _short_names(keys)
        for record in runs:
            if keys:
                values = ", ".join(f"{short[k]}={format_value(record.hyperparameters.get(k))}" for k in keys)
                labels[record.evaluation] = f"{method}({values})"
            else:
                labels[record.evaluation] = method
    return labels


def _value_key(value: Any) -> tuple:
    # Numbers in numeric order (alpha=1 < 10 < 100), then everything else by its text.
    if isinstance(value, bool) or not isinstance(value, int | float):
        return (1, 0.0, format_value(value))
    return (0, float(value), "")


def row_sort_key(label: str, record: RunRecord) -> tuple:
    """Retrain first (the gold standard), then the original model, then the methods by name,
    sweep rows in numeric order of their values."""
    rank = 0 if record.method == RETRAIN else 1 if record.method == ORIGINAL else 2
    values = tuple(_value_key(v) for _, v in sorted(record.hyperparameters.items()))
    return (rank, record.method, values, label)
