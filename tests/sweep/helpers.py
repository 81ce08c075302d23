"""Shared by the sweep tests: a tiny grid, running a sweep, and what "the same artifacts" means."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq

from unlearn_cli.artifacts import Workspace

# digits, a quarter-width cnn for 3 epochs (long enough to kill mid-way), the random 10 %,
# retrain (the reference), finetune and ssd: 11 nodes.
SMALL_GRID = """\
name = "small"
datasets = ["digits"]
models = ["cnn"]

[pretrain]
width = 0.25
epochs = 3

[forget]
per = [10]

[unlearn]
seeds = [0]
epochs = 1

[[methods]]
name = "retrain"
[[methods]]
name = "finetune"
[[methods]]
name = "ssd"
"""
SMALL_NODES = {"prepare": 1, "pretrain": 1, "forget": 1, "unlearn": 3, "evaluate": 4, "report": 1}

# Values that depend on the clock, not on the weights: left out when comparing two sweeps.
TIMED_METRICS = {"rte"}


def write_grid(folder: Path, text: str = SMALL_GRID, name: str = "small.toml") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(text)
    return path


def artifacts(ws: Workspace) -> dict[str, dict[str, object]]:
    """Every artifact of the workspace (reports aside) by kind/name: the sha256 of each of its
    files, except an evaluation's metrics table and a training curve, compared by value without
    the timed metrics and seconds."""
    result: dict[str, dict[str, object]] = {}
    for path in sorted((ws.root / "manifests").glob("*/*.json")):
        kind = path.parent.name
        if kind == "report":
            continue
        manifest = json.loads(path.read_text())
        files: dict[str, object] = {}
        for role, ref in manifest["files"].items():
            if kind == "evaluation" and role == "metrics":
                rows = pq.read_table(ws.root / ref["path"]).to_pylist()
                files[role] = sorted((row["metric"], row["value"]) for row in rows if row["metric"] not in TIMED_METRICS)
            elif role == "history":  # a training curve records seconds: compared without them
                files[role] = pq.read_table(ws.root / ref["path"]).drop_columns(["seconds"]).to_pylist()
            else:
                files[role] = ref["sha256"]
        result[f"{kind}/{manifest['name']}"] = files
    return result


def manifest_times(ws: Workspace) -> dict[str, int]:
    return {str(path): path.stat().st_mtime_ns for path in (ws.root / "manifests").glob("*/*.json")}
