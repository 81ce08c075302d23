"""What a study leaves in `tune/<study>/`: every trial as a Parquet table, the best values as a
preset file, and Optuna's plots (matplotlib, Agg)."""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any

import pyarrow as pa

from unlearn_cli.methods.preset_files import PresetFile, is_preset_file, parse_preset_file
from unlearn_cli.methods.presets import PresetEntry
from unlearn_cli.tune import objective
from unlearn_cli.tune.storage import masked
from unlearn_cli.tune.trial import split_values

log = logging.getLogger(__name__)

TRIALS_PARQUET = "trials.parquet"
PLOTS = {"history": "history.png", "parallel": "parallel-coordinate.png", "importance": "importance.png"}


def trials_table(trials: list[Any], space_keys: list[str], objective_name: str) -> pa.Table:
    """One row per trial: number, state, objective value(s), the four gaps, every drawn value
    (column `param_<key>`), wall seconds, runs and the error of a failed trial."""
    def value(trial: Any, i: int) -> float | None:
        values = trial.values
        return float(values[i]) if values is not None and i < len(values) else None

    columns: dict[str, Any] = {
        "number": pa.array([t.number for t in trials], pa.int64()),
        "state": [t.state.name for t in trials],
    }
    names = ["avg_gap"] if objective_name == "avg_gap" else [f"gap_{key}" for key in objective.GAP_KEYS]
    for i, name in enumerate(names):
        columns[f"objective_{name}"] = pa.array([value(t, i) for t in trials], pa.float64())
    for key in objective.GAP_KEYS:
        columns[f"gap_{key}"] = pa.array([_gap(t, key) for t in trials], pa.float64())
    columns["avg_gap"] = pa.array([t.user_attrs.get("avg_gap") for t in trials], pa.float64())
    for key in space_keys:
        values = [t.params.get(key) for t in trials]
        columns[f"param_{key}"] = pa.array([str(v) if isinstance(v, str) else v for v in values])
    columns["wall_seconds"] = pa.array([t.user_attrs.get("wall_seconds") for t in trials], pa.float64())
    columns["runs"] = pa.array([list(t.user_attrs.get("runs", [])) for t in trials], pa.list_(pa.string()))
    columns["error"] = pa.array([t.user_attrs.get("error") for t in trials], pa.string())
    return pa.table(columns)


def _gap(trial: Any, key: str) -> float | None:
    gaps = trial.user_attrs.get("gaps") or {}
    value = gaps.get(key)
    return float(value) if isinstance(value, (int, float)) and math.isfinite(value) else None


def best_preset(name: str, method: str, values: dict[str, Any], base: str | None, dataset: str,
                setting: str) -> PresetFile:
    """The best trial's values as a preset file over the study's base preset: a registered base
    stays the file's `base`; a base file's own values are carried over, its base kept."""
    training, params = split_values(values)
    own_params: dict[str, Any] = {}
    own_recipe: dict[str, Any] = {}
    if base is not None and is_preset_file(base):
        parent = parse_preset_file(base)
        entry = parent.methods.get(method)
        if entry is not None:
            own_params, own_recipe = dict(entry.params), dict(entry.recipe)
        base = parent.base
    return PresetFile(name=name, setting=setting, datasets=(dataset,), base=base, methods={
        method: PresetEntry(params={**own_params, **params}, recipe={**own_recipe, **training})})


def draw_plots(study: Any, folder: Path, objective_name: str) -> tuple[dict[str, Path], dict[str, str]]:
    """Optuna's optimisation history, parallel coordinates and parameter importances as PNGs;
    a plot Optuna cannot draw yet (too few complete trials) is left out with its reason."""
    import matplotlib

    matplotlib.use("Agg")  # Optuna draws with pyplot: never a window
    import matplotlib.pyplot as plt
    import optuna.visualization.matplotlib as vis

    target = None if objective_name == "avg_gap" else (lambda t: objective.norm(t.values))
    label = "avg_gap" if objective_name == "avg_gap" else "norm of the four gaps"
    draw = {"history": vis.plot_optimization_history, "parallel": vis.plot_parallel_coordinate,
            "importance": vis.plot_param_importances}
    drawn: dict[str, Path] = {}
    skipped: dict[str, str] = {}
    for key, plot in draw.items():
        try:
            ax = plot(study, target=target, target_name=label)
            figure = (ax.flat[0] if hasattr(ax, "flat") else ax).figure
            figure.set_size_inches(8, 5)
            figure.tight_layout()
            path = folder / PLOTS[key]
            figure.savefig(path, dpi=100)
            drawn[key] = path
        except Exception as error:  # noqa: BLE001 - Optuna refuses plots of too few trials in many ways
            skipped[key] = masked(str(error).splitlines()[0] if str(error) else type(error).__name__)
        finally:
            plt.close("all")
    return drawn, skipped
