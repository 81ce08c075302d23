"""The `make-forget-set` step: choose D_f (or make a manipulation) and write its table.

Two entry points share one output format (`forget/table.py`):
- sample/class forgetting from a pretrained model (`--model`): a forget-set kind picks D_f;
  the model's own training view (clean, or the manipulation it trained on) is kept;
- the corrective setting before pretraining (`--dataset --manipulation`): a manipulation
  changes labels/pixels of N rows and D_f is the known fraction of them.
"""

from __future__ import annotations

import logging
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch

from unlearn_cli.artifacts import Manifest, Workspace, load_table, name_or_default, naming, save_table
from unlearn_cli.data.loader import DeviceSplit
from unlearn_cli.data.prepared import DatasetInfo, load_split
from unlearn_cli.errors import InputError
from unlearn_cli.forget import (
    FORGET_KINDS,
    DifficultyRecord,
    TrainView,
    class_counts,
    forget_summary,
    forget_table,
    known_subset,
    make_forget_indices,
    manipulate,
)
from unlearn_cli.forget.base import selection_tag
from unlearn_cli.forget.kinds import FINE_KEY
from unlearn_cli.forget.table import indices_to_mask
from unlearn_cli.forget.view import TrainingView
from unlearn_cli.steps.common import dataset_of, excluded_mask, load_weights, model_info, training_view, view_loader
from unlearn_cli.steps.options import ForgetSetOptions, request_of
from unlearn_cli.train.device import resolve_device
from unlearn_cli.train.inference import predict_logits

log = logging.getLogger(__name__)

# Interclass defaults: the corrective paper's pairs (cat/dog; maple_tree/orange).
DEFAULT_INTERCLASS = {"cifar10": (3, 5), "cifar100": (47, 53)}


def _default_name(base: str, options: ForgetSetOptions) -> str:
    m = options.manipulation
    if m is not None:
        return naming.manipulation_name(base, m.kind, m.size, options.seed, known=m.known)
    return naming.forget_name(base, selection_tag(options.kind, options.params), options.seed)


def _difficulty(ws: Workspace, model: Manifest) -> DifficultyRecord | None:
    if "difficulty" not in model.files:
        return None
    table = load_table(ws.abs(model.file("difficulty").path))
    return DifficultyRecord(table.column("misclassified_fraction").to_numpy(),
                            table.column("mean_loss").to_numpy())


def make_forget_set(ws: Workspace, options: ForgetSetOptions) -> Path:
    options.validate()
    model = ws.read("model", options.model) if options.model else None
    dataset = dataset_of(ws, model) if model else ws.read("dataset", options.dataset)
    info = DatasetInfo.from_manifest(dataset)
    base = model.name if model else info.name
    name = name_or_default(options.name, _default_name(base, options))
    request = request_of(options)
    existing = ws.check_new("forget-set", name, options.force, request=request)
    if existing is not None:
        log.info("%s: made already with the same settings", name)
        return existing

    train = load_split(ws, dataset, "train")
    parents = {"dataset": ws.parent_ref(dataset)}
    if model is not None:
        parents["model"] = ws.parent_ref(model)

    if options.manipulation is not None:
        view, config = _manipulated(info, train.labels, options)
    else:
        view, config = _selected(ws, info, train, model, options)
    table = forget_table(view.labels, view.forget, view.train_label, view.poisoned, view.manipulated)
    summary = {**forget_summary(table), "per_class": class_counts(table, info.num_classes)}
    config.update(dataset=info.name, model=model.name if model else None, seed=options.seed, request=request)

    path = ws.table_path("forget-set", name, "index")
    with ws.replacing("forget-set", name, [path]):
        save_table(path, table)
        manifest = Manifest(kind="forget-set", name=name, config=config, parents=parents,
                            files={"index": ws.file_ref(path)}, summary=summary)
        manifest_path = ws.write(manifest)
    log.info("%s: %d samples to forget, %d to retain", name, summary["forget"], summary["retain"])
    return manifest_path


def _manipulated(info: DatasetInfo, labels: np.ndarray, options: ForgetSetOptions) -> tuple[TrainingView, dict]:
    m = options.manipulation
    if m.patch_size < 1 or m.patch_size > info.image_size:
        raise InputError(f"--patch-size {m.patch_size} does not fit {info.image_size}-pixel images",
                         hint=f"choose 1..{info.image_size}")
    manipulated = manipulate(m.kind, labels, info.num_classes, size=m.size, seed=options.seed, target=m.target,
                             classes=m.classes, default_classes=DEFAULT_INTERCLASS.get(info.name),
                             class_names=info.class_names)
    forget = known_subset(manipulated.manipulated, m.known, options.seed)
    view = TrainingView(labels=labels.astype(np.int64), train_label=manipulated.train_label,
                        poisoned=manipulated.poisoned, forget=forget, changed=manipulated.manipulated)
    # Record the settings as applied (names resolved, defaults filled in), and only those
    # the kind uses.
    applied = manipulated.options
    recorded: dict[str, Any] = {"kind": m.kind, "size": m.size, "known": m.known}
    if m.kind == "poison":
        recorded.update(patch_size=m.patch_size, target=applied.target)
    if m.kind == "interclass":
        recorded["classes"] = list(applied.classes)
    return view, {"kind": None, "params": {}, "manipulation": recorded}


def _selected(ws: Workspace, info: DatasetInfo, train, model: Manifest | None,
              options: ForgetSetOptions) -> tuple[TrainingView, dict]:
    kind = FORGET_KINDS.get(options.kind)
    params = options.resolved_params()
    if kind.requires_model(params) and model is None:
        raise InputError(f"--{options.kind} {next(iter(options.params.values()), '')} ranks by a trained model",
                         hint="pass --model <pretrained model>")
    base_view = TrainingView.clean(train.labels)
    manipulation = None
    if model is not None and "manipulation" in model.parents:
        manipulation = ws.read("forget-set", ws.abs(model.parents["manipulation"].path))
        base_view = training_view(ws, manipulation, len(train))

    excluded = excluded_mask(ws, model, len(train)) if model is not None else None
    # A row the model never saw cannot be unlearned: it is neither D_f nor D_r. So a kind draws
    # from the rows the model trained on; `--indices` names rows itself and is checked instead.
    eligible = (np.arange(len(train)) if excluded is None or kind.name == "indices"
                else np.flatnonzero(~excluded))

    def confidence() -> np.ndarray:
        device = resolve_device(options.device)
        net = load_weights(ws, model, device)
        seen = model_info(ws, model, info)
        logits = predict_logits(net, view_loader(DeviceSplit.from_numpy(train.images, train.labels, device), seen, base_view))
        probs = torch.softmax(logits, dim=1)
        return probs[torch.arange(len(probs)), torch.from_numpy(train.labels)].numpy()[eligible]

    difficulty = _difficulty(ws, model) if model is not None else None
    view = TrainView(
        labels=train.labels[eligible], num_classes=info.num_classes, class_names=info.class_names,
        extra={key: values[eligible] for key, values in train.extra.items()}, extra_names=info.extra_names,
        difficulty=(DifficultyRecord(difficulty.misclassified_fraction[eligible], difficulty.mean_loss[eligible])
                    if difficulty is not None else None),
        confidence=confidence if model is not None else None,
        manipulated=base_view.manipulated[eligible] if manipulation is not None else None,
    )
    indices = eligible[make_forget_indices(kind.name, view, params, options.seed)]
    base_view.forget = indices_to_mask(indices, len(train))
    if excluded is not None and (excluded & base_view.forget).any():
        raise InputError(f"{int((excluded & base_view.forget).sum())} of the forget rows were left out of "
                         f"{model.name}'s training (pretrain --exclude or --val-fraction)",
                         hint="choose forget rows among the rows the model was trained on (--indices)")
    config = {"kind": kind.name, "params": {k: str(v) if isinstance(v, Path) else v for k, v in asdict(params).items()},
              "manipulation": base_view.manipulation}
    # What evaluate needs to split the test side (docs/metrics.md): the forgotten class, or the
    # forgotten fine class of a superclass dataset.
    if kind.name == "class":
        config["forget_class"] = int(np.unique(train.labels[indices])[0])
    if kind.name == "subclass":
        config["forget_subclass"] = int(np.unique(train.extra[FINE_KEY][indices])[0])
    return base_view, config
