"""Helpers that several steps share: reading upstream artifacts into usable objects."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from unlearn_cli.artifacts import Manifest, Workspace, load_table, load_tensors
from unlearn_cli.data.loader import BatchLoader, DeviceSplit
from unlearn_cli.data.normalization import normalization_from_config
from unlearn_cli.data.prepared import DatasetInfo
from unlearn_cli.errors import ArtifactError, InputError
from unlearn_cli.forget.table import indices_to_mask
from unlearn_cli.forget.view import TrainingView
from unlearn_cli.models.architecture import Architecture
from unlearn_cli.train.inference import eval_loader


def dataset_of(ws: Workspace, manifest: Manifest) -> Manifest:
    """The dataset manifest an artifact descends from (directly, or via its model)."""
    if manifest.kind == "dataset":
        return manifest
    if "dataset" in manifest.parents:
        return ws.read("dataset", ws.abs(manifest.parents["dataset"].path))
    for role in ("model", "run"):
        if role in manifest.parents:
            parent_kind = "model" if role == "model" else "unlearned"
            return dataset_of(ws, ws.read(parent_kind, ws.abs(manifest.parents[role].path), verify=False))
    raise ArtifactError(f"{manifest.source}: cannot tell which dataset it belongs to",
                        hint="the manifest lacks a dataset parent")


def model_info(ws: Workspace, run: Manifest, info: DatasetInfo) -> DatasetInfo:
    """The dataset as the model of `run` (a model, or an unlearned run of one) sees it: with
    the input normalisation the model was pretrained with."""
    model = run
    if run.kind == "unlearned" and "model" in run.parents:
        # The run's read already checked its parent's sha256.
        model = ws.read("model", ws.abs(run.parents["model"].path), verify=False)
    return normalization_from_config(model.config, info, str(model.source)).applied_to(info)


def load_weights(ws: Workspace, manifest: Manifest, device: torch.device, role: str = "weights") -> nn.Module:
    """Rebuild the architecture and load weights from safetensors (never pickle)."""
    model = Architecture.from_config(manifest.config, str(manifest.source)).build()
    state = load_tensors(ws.abs(manifest.file(role).path))
    try:
        model.load_state_dict(state)
    except RuntimeError as error:
        raise ArtifactError(f"{manifest.file(role).path} does not fit the recorded architecture",
                            hint=f"the weights and manifest disagree ({str(error).splitlines()[0]})") from None
    return model.to(device)


def view_loader(split: DeviceSplit, info: DatasetInfo, view: TrainingView | None = None) -> BatchLoader:
    """An evaluation loader over a split; with a training view, its labels and triggers."""
    return eval_loader(split, info.mean, info.std, **(view.loader_fields() if view is not None else {}))


def training_view(ws: Workspace, manifest: Manifest, train_size: int, model: Manifest | None = None) -> TrainingView:
    """The training view a forget-set manifest's table defines (`forget/view.py`), with the
    rows the model was never trained on (`pretrain --exclude`, its validation split) marked
    neither D_f nor D_r. The model: `model`, else the one the forget set was made from."""
    path = ws.abs(manifest.file("index").path)
    view = TrainingView.from_table(load_table(path), manifest.config.get("manipulation"), train_size, str(path))
    if model is None and "model" in manifest.parents:
        model = ws.read("model", ws.abs(manifest.parents["model"].path))
    if model is not None:
        view.excluded = excluded_mask(ws, model, train_size)
        view.validation = validation_mask(ws, model, train_size)
        if view.excluded is not None:
            # A manipulation's rows the model never saw (its validation split may hold some)
            # cannot be forgotten either.
            view.forget = view.forget & ~view.excluded
    return view


def excluded_rows(path: Path, train_size: int) -> np.ndarray:
    """`pretrain --exclude`'s file: distinct train rows, sorted; refused if it is anything else."""
    try:
        rows = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as error:
        raise InputError(f"cannot read the excluded rows {path}: {error}",
                         hint="pass a .npy file of train row indices (numpy.save)") from None
    if rows.ndim != 1 or not np.issubdtype(rows.dtype, np.integer):
        raise InputError(f"{path} holds a {rows.dtype} array of shape {rows.shape}, not train row indices",
                         hint="pass a 1-D integer .npy file")
    rows = np.sort(rows.astype(np.int64))
    if rows.size and (rows[0] < 0 or rows[-1] >= train_size or np.any(np.diff(rows) == 0)):
        raise InputError(f"{path} must hold distinct train rows in 0…{train_size - 1}",
                         hint="rows are numbered from 0 within the train split")
    if rows.size >= train_size:
        raise InputError(f"{path} leaves out every train row", hint="exclude fewer rows")
    return rows


def excluded_mask(ws: Workspace, model: Manifest, train_size: int) -> np.ndarray | None:
    """The train rows a model was pretrained without (`--exclude` and its validation split), as
    a mask; None when it trained on them all."""
    held_out = [_rows_of(ws, model, role, train_size) for role in ("exclude", "validation") if role in model.files]
    if not held_out:
        return None
    return np.logical_or.reduce(held_out)


def validation_mask(ws: Workspace, model: Manifest, train_size: int) -> np.ndarray | None:
    """The model's validation rows (`pretrain --val-fraction`) as a mask; None without them."""
    return _rows_of(ws, model, "validation", train_size) if "validation" in model.files else None


def _rows_of(ws: Workspace, model: Manifest, role: str, train_size: int) -> np.ndarray:
    # The file's checksum was verified with the manifest; its content is still checked, since
    # a mask built from an out-of-range row would fail far from here.
    rows = np.load(ws.abs(model.file(role).path), allow_pickle=False)
    if rows.ndim != 1 or not np.issubdtype(rows.dtype, np.integer) or (
            rows.size and (rows.min() < 0 or rows.max() >= train_size)):
        raise ArtifactError(f"model {model.name}'s {role} rows are not rows of its {train_size}-row train split",
                            hint=f"re-train {model.name} with pretrain --force")
    return indices_to_mask(rows.astype(np.int64), train_size)
