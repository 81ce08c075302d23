"""One evaluated run, with what the report needs to know about it: its setting, its method
and hyper-parameters, its seeds, and its metric values.

Everything is found by following the evaluation's parents (run → model, forget set,
reference). Those manifests are read for their config only; each one is checked against the
sha256 its child recorded, so the provenance the report prints is the one the evaluation
was made from. Model weights are never read (a report over many runs stays fast).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from unlearn_cli.artifacts import FileRef, Manifest, Workspace, cached_sha256, load_table
from unlearn_cli.errors import ArtifactError
from unlearn_cli.report.costs import NOT_FOR_THE_ORIGINAL, run_costs
from unlearn_cli.report.settings import Setting, setting_of

# Recorded in an unlearned run's "training" config but not hyper-parameters of the method:
# they must not split a method into sweep rows.
NOT_HYPERPARAMETERS = frozenset({"device", "world_size", "speed", "total_steps", "steps_per_epoch"})


@dataclass(frozen=True)
class RunRecord:
    evaluation: str  # evaluation name
    evaluation_manifest: Manifest
    run: str
    forget_set: str
    method: str  # registered method name; "original" for a pretrained model
    hyperparameters: dict[str, Any]  # method params and training settings, flattened
    setting: Setting
    seed: int | None  # unlearning seed (None for a pretrained model)
    pretrain_seed: int | None
    forget_seed: int | None
    reference: str | None
    reference_method: str | None
    tool_version: str  # of the evaluation: which version's metric definitions
    values: dict[str, float]
    preset: str | None = None  # the unlearning run's preset (`unlearn --preset`), if any
    history: FileRef | None = None  # the run's training curves (train/history.py), if it recorded them


def _ancestor(ws: Workspace, child: Manifest, role: str, kinds: tuple[str, ...]) -> Manifest:
    ref: FileRef = child.parent(role)
    path = ws.abs(ref.path)
    if not path.is_file():
        raise ArtifactError(f"{child.source}: its parent {role} {path} is missing",
                            hint="re-create the parent, then this artifact")
    if cached_sha256(path, ws.root) != ref.sha256:
        raise ArtifactError(f"{child.source}: its parent {role} {path} changed since it was made",
                            hint="re-run this step (with --force) on the current parent")
    return ws.read_one_of(kinds, path, verify=False)


def _config(manifest: Manifest, key: str) -> Any:
    if key not in manifest.config:
        raise ArtifactError(f"{manifest.source}: no '{key}' recorded in its config",
                            hint="re-create it with this version of unlearn")
    return manifest.config[key]


def _model_label(model: Manifest) -> str:
    arch = _config(model, "architecture")
    try:
        name, width = str(arch["name"]), float(arch.get("width", 1.0))
    except (TypeError, KeyError, ValueError):
        raise ArtifactError(f"{model.source}: its architecture record is incomplete",
                            hint="re-create the model with this version of unlearn") from None
    return name if width == 1.0 else f"{name}(width={width:g})"


def _flatten(prefix: str, value: Any, out: dict[str, Any]) -> None:
    if isinstance(value, dict):
        for key, inner in value.items():
            _flatten(f"{prefix}.{key}" if prefix else str(key), inner, out)
    else:
        out[prefix] = _freeze(value)


def _freeze(value: Any) -> Any:
    """Hashable, so values can be compared as set members (JSON lists become tuples)."""
    return tuple(_freeze(v) for v in value) if isinstance(value, list | tuple) else value


def hyperparameters(run: Manifest) -> dict[str, Any]:
    """The values that make two runs of one method different methods in a table: its
    resolved params and its training settings (optimiser, lr, length, batch size)."""
    if run.kind != "unlearned":
        return {}
    out: dict[str, Any] = {}
    _flatten("", run.config.get("params") or {}, out)
    training = run.config.get("training") or {}
    if isinstance(training, dict):
        training = {k: v for k, v in training.items() if k not in NOT_HYPERPARAMETERS}
    _flatten("training", training, out)
    return out


def _preset(run: Manifest) -> str | None:
    preset = run.config.get("preset") if run.kind == "unlearned" else None
    return str(preset) if preset else None


def _int_or_none(value: Any) -> int | None:
    return None if value is None else int(value)


def _metric_values(ws: Workspace, evaluation: Manifest) -> dict[str, float]:
    table = load_table(ws.abs(evaluation.file("metrics").path))
    if not {"metric", "value"} <= set(table.column_names):
        raise ArtifactError(f"{evaluation.source}: its metrics table lacks the metric/value columns",
                            hint="re-run evaluate with --force")
    names = table.column("metric").to_pylist()
    values = table.column("value").to_pylist()
    return {str(n): (math.nan if v is None else float(v)) for n, v in zip(names, values)}


def read_record(ws: Workspace, evaluation: Manifest) -> RunRecord:
    """Follow one (already verified) evaluation manifest's parents into a RunRecord."""
    run = _ancestor(ws, evaluation, "run", ("unlearned", "model"))
    forget = _ancestor(ws, evaluation, "forget", ("forget-set",))
    model = run if run.kind == "model" else _ancestor(ws, run, "model", ("model",))
    reference = (_ancestor(ws, evaluation, "reference", ("unlearned", "model"))
                 if "reference" in evaluation.parents else None)

    dataset = evaluation.config.get("dataset") or _config(model, "dataset")
    setting = setting_of(str(dataset), _model_label(model), forget)
    values = _metric_values(ws, evaluation)
    if run.kind == "model":
        values = {k: v for k, v in values.items() if k not in NOT_FOR_THE_ORIGINAL}
    values.update(run_costs(run))
    return RunRecord(
        evaluation=evaluation.name,
        evaluation_manifest=evaluation,
        run=run.name,
        forget_set=forget.name,
        method=str(run.config.get("method", "original")) if run.kind == "unlearned" else "original",
        hyperparameters=hyperparameters(run),
        setting=setting,
        seed=_int_or_none(run.config.get("seed")) if run.kind == "unlearned" else None,
        pretrain_seed=_int_or_none(model.config.get("seed")),
        forget_seed=_int_or_none(forget.config.get("seed")),
        reference=reference.name if reference is not None else None,
        reference_method=(None if reference is None else
                          str(reference.config.get("method", "original")) if reference.kind == "unlearned"
                          else "original"),
        tool_version=evaluation.tool_version,
        values=values,
        preset=_preset(run),
        history=run.files.get("history"),
    )
