"""The tracker registry and what a tracker is given."""

from __future__ import annotations

import importlib.util
import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa

from unlearn_cli.errors import InputError
from unlearn_cli.registry import Registry

ENV = "UNLEARN_TRACKER"  # the tracker of every step that is not given --tracker
NONE = "none"


@dataclass(frozen=True)
class TrackedRun:
    """One finished training run as a tracker sees it."""

    kind: str  # "model" (pretrain) or "unlearned"
    name: str
    params: dict[str, str | int | float | bool]  # its config, flattened to dotted keys
    metrics: dict[str, float]  # the summary's finite numbers
    history: pa.Table | None  # train/history.py's table
    tags: dict[str, str]

    def curve_points(self) -> list[tuple[str, str, int, float]]:
        """(scope, quantity, optimiser step, value) of every recorded loss, accuracy and lr."""
        rows = self.history.to_pylist() if self.history is not None else []
        return [(row["scope"], key, row["step"], row[key]) for row in rows
                for key in ("loss", "accuracy", "lr") if row[key] is not None]

    @property
    def last_step(self) -> int:
        """The step the summary's numbers are logged at: the curve's last (0 without one)."""
        return max((step for _, _, step, _ in self.curve_points()), default=0)


@dataclass(frozen=True)
class TrackerSpec:
    name: str
    module: str  # the package it imports
    extra: str  # the unlearn-cli extra that installs it
    folder: str  # its files' folder in the workspace
    description: str
    mirror: Callable[[TrackedRun, Path], str]  # returns where the run went, for the log

    def installed(self) -> bool:
        return importlib.util.find_spec(self.module) is not None

    @property
    def install(self) -> str:
        return f"pip install 'unlearn-cli[{self.extra}]'"

    def require(self) -> None:
        if not self.installed():
            raise InputError(f"the {self.name} tracker needs the {self.module} package, which is not installed",
                             hint=f"{self.install}, or leave out --tracker / {ENV}")


TRACKERS: Registry[TrackerSpec] = Registry("tracker")


def chosen_tracker(name: str | None) -> TrackerSpec | None:
    """The tracker `name` names (None: the `UNLEARN_TRACKER` environment variable's; `none`
    or unset: no tracker), its package checked now, before any training."""
    if name is None:
        name = os.environ.get(ENV, "").strip() or None
    if name is None or name == NONE:
        return None
    spec = TRACKERS.get(name)
    spec.require()
    return spec


def flatten(config: Mapping[str, Any], prefix: str = "") -> dict[str, str | int | float | bool]:
    """A nested config as dotted keys with scalar values (lists and None as text)."""
    flat: dict[str, str | int | float | bool] = {}
    for key, value in config.items():
        path = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten(value, f"{path}."))
        elif isinstance(value, (bool, int, float, str)):
            flat[path] = value
        else:
            flat[path] = str(value)
    return flat


def finite_numbers(summary: Mapping[str, Any]) -> dict[str, float]:
    """A summary's top-level numbers that a tracker can plot (booleans and NaN left out)."""
    return {key: float(value) for key, value in summary.items()
            if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)}
