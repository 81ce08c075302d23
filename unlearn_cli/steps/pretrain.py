"""The `pretrain` step: train a model from scratch on a prepared dataset (or a manipulated view).

Writes the initial and final weights (safetensors), the per-sample difficulty record (Parquet)
and a model manifest. The final weights are kept as they are: the model is never selected by
test accuracy, which would leak the test set into it.
"""

from __future__ import annotations

import io
import logging
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch

from unlearn_cli.artifacts import (
    Manifest,
    Workspace,
    atomic_write_bytes,
    name_or_default,
    save_table,
    save_tensors,
)
from unlearn_cli.data.augment import AugmentSpec
from unlearn_cli.data.loader import BatchLoader, DeviceSplit
from unlearn_cli.data.normalization import resolve_normalization
from unlearn_cli.data.prepared import DatasetInfo, load_split
from unlearn_cli.errors import InputError
from unlearn_cli.forget.base import class_balanced_sample
from unlearn_cli.forget.table import indices_to_mask
from unlearn_cli.forget.view import TrainingView
from unlearn_cli.models import check_model_fits
from unlearn_cli.models.architecture import Architecture
from unlearn_cli.steps import tracking
from unlearn_cli.steps.common import excluded_rows, training_view, view_loader
from unlearn_cli.steps.options import DEFAULT_DATASET, PretrainOptions, request_of
from unlearn_cli.trackers import chosen_tracker
from unlearn_cli.train import distributed, sanity
from unlearn_cli.train.checkpoint import Checkpointer
from unlearn_cli.train.device import SpeedSwitches, resolve_device
from unlearn_cli.train.difficulty import DifficultyRecorder
from unlearn_cli.train.inference import accuracy, predict_logits
from unlearn_cli.train.loop import LoopConfig, train, unwrap
from unlearn_cli.train.objectives import cross_entropy
from unlearn_cli.train.optim import build_optimizer
from unlearn_cli.train.recipes import Recipe
from unlearn_cli.train.schedules import build_schedule

log = logging.getLogger(__name__)



def _resolve(ws: Workspace, options: PretrainOptions) -> tuple[Manifest, DatasetInfo, Recipe, str, Manifest | None]:
    """Every check that can fail before long work starts."""
    options.validate()
    manipulation = ws.read("forget-set", options.manipulation) if options.manipulation is not None else None
    if options.dataset is not None:
        dataset = ws.read("dataset", options.dataset)
    elif manipulation is not None and "dataset" in manipulation.parents:
        dataset = ws.read("dataset", ws.abs(manipulation.parents["dataset"].path))
    else:
        dataset = ws.read("dataset", DEFAULT_DATASET)
    info = DatasetInfo.from_manifest(dataset)
    check_model_fits(options.model, image_size=info.image_size, dataset=info.name)
    recipe = options.recipe_for(info.name)
    # A model trained on a manipulated view is named after the manipulation, not the clean dataset.
    name = name_or_default(options.name, options.default_name(manipulation.name if manipulation else info.name))
    if manipulation is not None:
        if not manipulation.config.get("manipulation"):
            raise InputError(f"{manipulation.source} is a forget set without a manipulation",
                             hint="make one with make-forget-set --manipulation poison|interclass|labelswap")
        if manipulation.parents.get("dataset") != ws.parent_ref(dataset):
            raise InputError(f"{manipulation.source} was made for another dataset than {info.name}",
                             hint="make the manipulation from this dataset")
    return dataset, info, recipe, name, manipulation


def exclude_path(ws: Workspace, name: str) -> Path:
    """The model's own copy of the rows it was trained without (a user's file may change)."""
    return ws.root / "manifests" / "model" / f"{name}.exclude.npy"


def validation_path(ws: Workspace, name: str) -> Path:
    """The rows `--val-fraction` held out as the model's validation split."""
    return ws.root / "manifests" / "model" / f"{name}.validation.npy"


def draw_validation(labels: np.ndarray, num_classes: int, fraction: float, seed: int,
                    excluded: np.ndarray | None) -> np.ndarray:
    """A class-balanced share of the rows not already excluded: round(n_c·fraction) rows of
    each class c (halves up, as `--fraction` draws), from a generator of its own seed."""
    candidates = np.arange(len(labels)) if excluded is None else np.setdiff1d(np.arange(len(labels)), excluded)
    rng = np.random.default_rng([int(seed), 0x5A11D])  # not the pretraining stream
    picked = class_balanced_sample(labels[candidates], num_classes, fraction, rng)
    rows = np.sort(candidates[picked]).astype(np.int64)
    if rows.size == 0:
        raise InputError(f"--val-fraction {fraction} holds out no row of {len(candidates)}",
                         hint="choose a larger fraction")
    if rows.size >= len(candidates):
        raise InputError(f"--val-fraction {fraction} holds out every train row", hint="choose a smaller fraction")
    return rows


def save_rows(path: Path, rows: np.ndarray) -> None:
    buffer = io.BytesIO()
    np.save(buffer, rows.astype(np.int64))
    atomic_write_bytes(path, buffer.getvalue())


def pretrain(ws: Workspace, options: PretrainOptions) -> Path | None:
    """Train and write the model; returns its manifest path (None on non-zero DDP ranks)."""
    tracker = chosen_tracker(options.tracker)  # a missing tracker package is said before training
    dataset, info, recipe, name, manipulation = _resolve(ws, options)
    device = resolve_device(options.device)
    switches = SpeedSwitches.for_device(device, amp=options.amp, channels_last=options.channels_last,
                                        compile=options.compile)
    dist = distributed.init_distributed(device)
    if dist.enabled and device.type == "cuda":
        device = torch.device("cuda", dist.local_rank)
    # Also with --resume: a finished model has no run left to resume. Only rank 0 writes,
    # so only rank 0 takes the name's lock (the other ranks of a torchrun would find it held).
    request = request_of(options)
    if dist.is_main:
        # A torchrun's other ranks cannot be told to stop, so only a single process reuses.
        existing = ws.check_new("model", name, options.force, request=None if dist.enabled else request)
        if existing is not None:
            log.info("%s: trained already with the same settings", name)
            return existing

    train_split = load_split(ws, dataset, "train")
    test_split = load_split(ws, dataset, "test")
    view = (training_view(ws, manipulation, len(train_split)) if manipulation
            else TrainingView.clean(train_split.labels))
    excluded = excluded_rows(options.exclude, len(train_split)) if options.exclude is not None else None
    validation = (draw_validation(view.labels, info.num_classes, options.val_fraction, options.seed, excluded)
                  if options.val_fraction else None)
    held_out = [rows for rows in (excluded, validation) if rows is not None]
    kept = ~indices_to_mask(np.concatenate(held_out), len(train_split)) if held_out else None
    trained_rows = len(train_split) if kept is None else int(kept.sum())

    # From here on the dataset is seen as the model sees it: normalised by the recipe's rule.
    normalization = resolve_normalization(recipe.normalization, info)
    info = normalization.applied_to(info)
    arch = Architecture(options.model, options.width, info.channels, info.image_size, info.num_classes)
    torch.manual_seed(options.seed)
    model = arch.build().to(device)
    switches = switches.for_model(model, device)
    init_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    if dist.enabled:
        model = distributed.wrap_model(model, device, channels_last=switches.channels_last)

    train_device = DeviceSplit.from_numpy(train_split.images, train_split.labels, device)
    loader = BatchLoader(
        train_device, batch_size=recipe.batch_size, mean=info.mean, std=info.std,
        **view.loader_fields(), indices=kept,
        augment=AugmentSpec.default_for(info.image_size, info.name), shuffle=True,
        # The recipe keeps or drops a partial last batch; dropping needs one whole batch.
        drop_last=recipe.drop_last and trained_rows >= recipe.batch_size,
        seed=options.seed, rank=dist.rank, world_size=dist.world_size, channels_last=switches.channels_last,
    )
    total_steps = recipe.total_steps(loader)
    schedule = build_schedule(recipe.schedule, total_steps, steps_per_epoch=loader.steps_in(0))
    few_steps = sanity.few_steps_warning(steps_per_epoch=loader.steps_in(0), batch_size=recipe.batch_size,
                                         rows=trained_rows, epochs=recipe.epochs if recipe.steps is None else None)
    if few_steps is not None and dist.is_main:
        log.warning("%s: %s", name, few_steps)  # said before the work, not after
    optimizer = build_optimizer(recipe.optimizer, model.parameters())
    config = {
        "request": request,
        "dataset": info.name,
        "architecture": arch.to_config(),
        "recipe": asdict(recipe),
        "normalization": normalization.to_config(),
        "seed": options.seed,
        "total_steps": total_steps,
        "steps_per_epoch": len(loader),
        "device": device.type,
        "world_size": dist.world_size,
        "speed": asdict(switches),
        "manipulation": manipulation.name if manipulation else None,
        **({"excluded_rows": int(excluded.size)} if excluded is not None else {}),
        **({"val_fraction": options.val_fraction, "validation_rows": int(validation.size)}
           if validation is not None else {}),
    }
    checkpoint = Checkpointer(ws.ckpt_path(name, ".resume"), fingerprint=config)
    checkpoint.refuse_to_start_over(f"model {name}", resume=options.resume, force=options.force)
    recorder = DifficultyRecorder(len(train_split), device)
    result = train(
        model, loader, cross_entropy, optimizer, schedule,
        LoopConfig(total_steps=total_steps, device=device, amp=switches.amp,
                   channels_last=switches.channels_last, compile=switches.compile,
                   description=f"pretrain {name}", nan_check_every=1 if device.type == "cpu" else 25),
        callbacks=[recorder], checkpoint=checkpoint, resume=options.resume,
    )
    difficulty = recorder.table()  # a collective under DDP: every rank takes part
    plain = unwrap(model)
    if not dist.is_main:
        distributed.barrier()
        distributed.shutdown()
        return None

    train_logits = predict_logits(plain, view_loader(train_device, info, view), amp=switches.amp,
                                  channels_last=switches.channels_last)
    test_device = DeviceSplit.from_numpy(test_split.images, test_split.labels, device)
    test_logits = predict_logits(plain, view_loader(test_device, info), amp=switches.amp,
                                 channels_last=switches.channels_last)
    summary = {
        "train_accuracy": accuracy(train_logits if kept is None else train_logits[torch.from_numpy(kept)],
                                   torch.from_numpy(view.train_label if kept is None else view.train_label[kept])),
        "test_accuracy": accuracy(test_logits, torch.from_numpy(test_split.labels)),
        **({"validation_accuracy": accuracy(train_logits[torch.from_numpy(validation)],
                                            torch.from_numpy(view.labels[validation]))}
           if validation is not None else {}),
        "wall_seconds": result.wall_seconds,
        "threads": torch.get_num_threads(),  # CPU threads the run had (train/threads.py)
        "steps": result.steps,
        "epochs": result.epochs,
        "final_loss": result.last_loss,
        "parameters": sum(p.numel() for p in plain.parameters()),
    }
    metadata = {"architecture": options.model, "dataset": info.name}
    history = result.history.table()
    paths = {
        "weights": ws.ckpt_path(name),
        "init": ws.ckpt_path(name, ".init"),
        "difficulty": ws.table_path("model", name, "difficulty"),
        "history": ws.table_path("model", name, "history"),
        **({"exclude": exclude_path(ws, name)} if excluded is not None else {}),
        **({"validation": validation_path(ws, name)} if validation is not None else {}),
    }
    with ws.replacing("model", name, paths.values()):
        if excluded is not None:
            save_rows(paths["exclude"], excluded)
        if validation is not None:
            save_rows(paths["validation"], validation)
        save_tensors(paths["weights"], plain.state_dict(), metadata)
        save_tensors(paths["init"], init_state, metadata)
        save_table(paths["difficulty"], difficulty)
        save_table(paths["history"], history)
        parents = {"dataset": ws.parent_ref(dataset)}
        if manipulation is not None:
            parents["manipulation"] = ws.parent_ref(manipulation)
        manifest = Manifest(kind="model", name=name, config=config, parents=parents,
                            files={role: ws.file_ref(path) for role, path in paths.items()}, summary=summary)
        manifest_path = ws.write(manifest)
        # Still under the name's lock: a run of the same name that starts once it is
        # released must not lose its own fresh checkpoints to this removal.
        checkpoint.remove()
    tracking.mirror(ws, tracker, manifest, manifest_path, history)
    shown = {"train": summary["train_accuracy"], "test": summary["test_accuracy"]}
    if validation is not None:
        shown["validation"] = summary["validation_accuracy"]
    sanity.report(f"pretrain {name}", shown,
                  [sanity.chance_warning(f"model {name}", summary["test_accuracy"], info.num_classes)])
    distributed.barrier()
    distributed.shutdown()
    return manifest_path
