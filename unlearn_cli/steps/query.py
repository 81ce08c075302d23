"""The `query` step: one model's float32 logits on an audit's rows, the only thing the audit's
attacks read (docs/audits.md).

For a run (an unlearned run or a model) it computes, in float32 with no autocast and no
BatchNorm folding (the exact forward pass of the trained weights, in eval mode):

- the logits of the audited train rows, plain (flip 0) and horizontally flipped (flip 1), as
  LiRA's `research/mi_lira_2021/inference.py` queries every example and its mirror image;
- the logits of a retain sample and a test sample (plain), which KLoM compares;
- the accuracy on the whole retain set (train rows outside the run's forget set), the whole
  test set and the forget set, which the challenge's final score divides by.

Rows are shown as the run's training view shows them (its training labels and trigger), so a
model is asked about the rows it was trained (or not trained) on. Writes the arrays as one
safetensors file beside a `query` manifest whose parent is the run.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch
from torch import nn

from unlearn_cli.artifacts import Manifest, Workspace, name_or_default, save_tensors
from unlearn_cli.data.loader import DeviceSplit
from unlearn_cli.data.prepared import DatasetInfo, load_split
from unlearn_cli.errors import InputError
from unlearn_cli.forget.view import TrainingView
from unlearn_cli.steps.common import dataset_of, load_weights, model_info, training_view, view_loader
from unlearn_cli.steps.options import QueryOptions
from unlearn_cli.train.device import resolve_device
from unlearn_cli.train.inference import eval_loader, predict_logits

log = logging.getLogger(__name__)

RUN_KINDS = ("unlearned", "model")
FLIPS = ("plain", "horizontal")  # flip index 0 and 1 of `logits`


class _Flipped(nn.Module):
    """The model on horizontally mirrored inputs (N, C, H, W: the width is the last axis)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(torch.flip(x, dims=(-1,)))


def logits_path(ws: Workspace, name: str) -> Path:
    return ws.root / "manifests" / "query" / f"{name}.logits.safetensors"


def _view(ws: Workspace, run: Manifest, train_size: int, labels: np.ndarray) -> TrainingView:
    """The run's training view: its forget set's (unlearned runs), its manipulation's (a model
    pretrained on one), else the clean labels with nothing forgotten."""
    own = run.parents.get("forget") or run.parents.get("manipulation")
    if own is None:
        return TrainingView.clean(labels)
    return training_view(ws, ws.read("forget-set", ws.abs(own.path), verify=False), train_size)


def _check_rows(rows: np.ndarray, size: int, what: str) -> None:
    if rows.size and rows.max() >= size:
        raise InputError(f"the query asks for {what} row {int(rows.max())}, but the split has {size} rows",
                         hint="the rows were chosen for another dataset")


def _accuracy(logits: torch.Tensor, labels: np.ndarray, mask: np.ndarray) -> float:
    if not mask.any():
        return float("nan")
    hits = logits.argmax(dim=1).numpy()[mask] == labels[mask]
    return float(hits.mean() * 100)


def query(ws: Workspace, options: QueryOptions) -> Path:
    options.validate()
    run = ws.read_one_of(RUN_KINDS, options.run)
    dataset = dataset_of(ws, run)
    name = name_or_default(options.name, options.default_name())
    ws.check_new("query", name, options.force)

    info = DatasetInfo.from_manifest(dataset)
    train = load_split(ws, dataset, "train")
    test = load_split(ws, dataset, "test")
    rows, retain, test_rows = (np.asarray(r, dtype=np.int64) for r in (options.rows, options.retain, options.test))
    _check_rows(rows, len(train), "train")
    _check_rows(retain, len(train), "train")
    _check_rows(test_rows, len(test), "test")
    view = _view(ws, run, len(train), train.labels)

    device = resolve_device(options.device)
    model = load_weights(ws, run, device)
    seen = model_info(ws, run, info)  # the normalisation the model was pretrained with
    train_device = DeviceSplit.from_numpy(train.images, train.labels, device)
    test_device = DeviceSplit.from_numpy(test.images, test.labels, device)
    # Measurement before speed: both switches off, so these are the fp32 logits of the weights.
    train_logits = predict_logits(model, view_loader(train_device, info=seen, view=view))
    test_logits = predict_logits(model, view_loader(test_device, info=seen))
    flipped = predict_logits(_Flipped(model), eval_loader(train_device, seen.mean, seen.std, rows=rows,
                                                          **view.loader_fields()))
    labels = view.train_label.astype(np.int64)
    test_labels = test.labels.astype(np.int64)
    tensors = {
        "rows": torch.from_numpy(rows),
        "labels": torch.from_numpy(labels[rows]),
        "logits": torch.stack([train_logits[rows], flipped], dim=1),  # (rows, flips, classes)
        "retain_rows": torch.from_numpy(retain),
        "retain_labels": torch.from_numpy(labels[retain]),
        "retain_logits": train_logits[retain],
        "test_rows": torch.from_numpy(test_rows),
        "test_labels": torch.from_numpy(test_labels[test_rows]),
        "test_logits": test_logits[test_rows],
    }
    summary = {
        "retain_accuracy": _accuracy(train_logits, labels, view.retain),
        "test_accuracy": _accuracy(test_logits, test_labels, np.ones(len(test_labels), dtype=bool)),
        "forget_accuracy": _accuracy(train_logits, labels, view.forget),
        "rows": int(rows.size),
        "retain_rows": int(retain.size),
        "test_rows": int(test_rows.size),
    }
    path = logits_path(ws, name)
    with ws.replacing("query", name, [path]):
        save_tensors(path, {key: value.contiguous() for key, value in tensors.items()},
                     {"run": run.name, "flips": list(FLIPS)})
        manifest = Manifest(
            kind="query", name=name, parents={"run": ws.parent_ref(run)},
            config={"run": run.name, "run_kind": run.kind, "dataset": info.name, "digest": options.digest,
                    "flips": list(FLIPS), "precision": "float32", "method": run.config.get("method", "original"),
                    "seed": run.config.get("seed")},
            files={"logits": ws.file_ref(path)}, summary=summary,
        )
        manifest_path = ws.write(manifest)
    log.info("%s: %d rows queried (and flipped), retain accuracy %.2f %%", name, rows.size,
             summary["retain_accuracy"])
    return manifest_path
