"""The `unlearn` step: run one unlearning method on a pretrained model and a forget set.

Everything that can fail is checked before any work (method, parameters, the model/forget-set
pair, the name); then the step builds an `UnlearnContext`, times the method's whole run (mask
building, importances and training included, compilation warm-up excluded), and writes the
weights and an `unlearned` manifest whose parents are the model and the forget set and whose
config holds every resolved setting.
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from unlearn_cli.artifacts import Manifest, Workspace, load_tensors, name_or_default, naming, save_table, save_tensors
from unlearn_cli.data.loader import DeviceSplit
from unlearn_cli.data.prepared import DatasetInfo, load_split
from unlearn_cli.errors import InputError
from unlearn_cli.forget.view import TrainingView
from unlearn_cli.methods import MethodSpec, UnlearnContext
from unlearn_cli.methods.presets import ResolvedPreset
from unlearn_cli.methods.training import recipe_from_config, resolve_training
from unlearn_cli.models import valid_ks
from unlearn_cli.models.architecture import Architecture
from unlearn_cli.steps import tracking
from unlearn_cli.steps.common import dataset_of, load_weights, model_info, training_view
from unlearn_cli.steps.options import TUNED_PRESET, UnlearnOptions, request_of
from unlearn_cli.trackers import chosen_tracker
from unlearn_cli.train import distributed, sanity
from unlearn_cli.train.checkpoint import Checkpointer
from unlearn_cli.train.device import SpeedSwitches, resolve_device
from unlearn_cli.train.inference import accuracy, eval_loader, predict_logits
from unlearn_cli.train.loop import unwrap

log = logging.getLogger(__name__)


@dataclass
class _Plan:
    """What the checks before any work resolved."""

    spec: MethodSpec
    params: Any
    model: Manifest
    forget: Manifest
    dataset: Manifest
    name: str
    preset: ResolvedPreset | None


def model_and_forget(ws: Workspace, options: UnlearnOptions) -> tuple[Manifest, Manifest]:
    """The model and the forget set, each inferred from the other where the other names it:
    a forget set made from a model names it; a model pretrained on a manipulation names the
    manipulation, whose known part is D_f."""
    if options.model is None and options.forget is None:
        raise InputError("nothing to unlearn: give --forget and/or --model",
                         hint="e.g. unlearn unlearn --method finetune --forget <forget set>, "
                         "or pipe a forget-set manifest path into it")
    forget = ws.read("forget-set", options.forget) if options.forget is not None else None
    model = ws.read("model", options.model) if options.model is not None else None
    if model is None:
        assert forget is not None
        if "model" not in forget.parents:
            raise InputError(f"forget set {forget.name} was made from a dataset, not a model",
                             hint="pass --model <the model pretrained on it>")
        model = ws.read("model", ws.abs(forget.parents["model"].path))
    if forget is None:
        if "manipulation" not in model.parents:
            raise InputError(f"model {model.name} names no forget set of its own",
                             hint="pass --forget <a forget set made from this model>")
        forget = ws.read("forget-set", ws.abs(model.parents["manipulation"].path))
    _check_pair(ws, model, forget)
    return model, forget


def _check_pair(ws: Workspace, model: Manifest, forget: Manifest) -> None:
    """The forget set must describe the training view this very model was trained on."""
    model_ref = ws.parent_ref(model)
    if "model" in forget.parents:
        if forget.parents["model"] != model_ref:
            raise InputError(f"forget set {forget.name} was made from another model than {model.name}",
                             hint="make the forget set from this model, or pass the model it names")
        return
    dataset = dataset_of(ws, model)
    if forget.parents.get("dataset") != ws.parent_ref(dataset):
        raise InputError(f"forget set {forget.name} was made for another dataset than model {model.name}",
                         hint="make the forget set from this model or its dataset")
    manipulation = model.parents.get("manipulation")
    if forget.config.get("manipulation"):
        if manipulation != ws.parent_ref(forget):
            raise InputError(f"model {model.name} was not pretrained on the manipulation {forget.name}",
                             hint="pass the model pretrained with --manipulation on it")
    elif manipulation is not None:
        raise InputError(f"model {model.name} was trained on a manipulated view, which forget set "
                         f"{forget.name} does not describe",
                         hint="make the forget set from the model (make-forget-set --model)")


def _resolve(ws: Workspace, options: UnlearnOptions) -> _Plan:
    choice = options.resolve()
    spec, params, preset = choice.spec, choice.params, choice.preset
    if distributed.launched_by_torchrun() and os.environ.get("WORLD_SIZE", "1") != "1" and not spec.distributed:
        raise InputError(f"method '{spec.name}' does not run under torchrun",
                         hint="run it as a single process (only retrain is distributed)")
    model, forget = model_and_forget(ws, options)
    dataset = dataset_of(ws, model)
    if preset is not None:
        preset.warn_if_other_dataset(DatasetInfo.from_manifest(dataset).name)
    forget_size = int(forget.summary.get("forget", 0))
    retain_size = int(forget.summary.get("retain", 0))
    if forget_size == 0:
        raise InputError(f"forget set {forget.name} has an empty D_f", hint="make a forget set with rows to forget")
    if retain_size == 0:
        raise InputError(f"forget set {forget.name} leaves D_r empty", hint="make a smaller forget set")
    # <forget set>-<method>[-<preset>][-<param><value>…]-s<seed>: the parameters that differ
    # from the method's defaults under the preset, so a parameter sweep gets distinct names.
    default = naming.run_name(forget.name, spec.name, preset.preset.name if preset else None,
                              naming.changed_params(params, choice.baseline), options.seed)
    name = name_or_default(options.name, default)
    return _Plan(spec, params, model, forget, dataset, name, preset)


class _AlreadyMade(Exception):
    """The run exists, made by the same request: `unlearn` answers with its path."""

    def __init__(self, path: Path) -> None:
        super().__init__(str(path))
        self.path = path


@dataclass
class PreparedRun:
    """A run ready to start: its resolved plan, its context and its recorded config."""

    plan: _Plan
    ctx: UnlearnContext
    config: dict[str, Any]
    checkpoint: Checkpointer | None


def prepare(ws: Workspace, options: UnlearnOptions) -> PreparedRun:
    """Every check, then the data, the model and the context, without running the method."""
    plan = _resolve(ws, options)
    spec, model_manifest = plan.spec, plan.model
    own_recipe = (recipe_from_config(model_manifest.config, str(model_manifest.source))
                  if "recipe" in model_manifest.config else None)
    training = resolve_training(spec, plan.params, own_recipe, options.generic,
                                plan.preset.recipe_fields(plan.params) if plan.preset else None)
    arch = Architecture.from_config(model_manifest.config, str(model_manifest.source))
    _check_model(spec, plan.params, arch)
    device = resolve_device(options.device)
    switches = SpeedSwitches.for_device(device, amp=options.amp, channels_last=options.channels_last,
                                        compile=options.compile)
    dist = distributed.init_distributed(device) if spec.distributed else distributed.DistContext()
    if dist.enabled and device.type == "cuda":
        device = torch.device("cuda", dist.local_rank)
    if dist.is_main:
        existing = ws.check_new("unlearned", plan.name, options.force,
                                request=None if dist.enabled else request_of(options))
        if existing is not None:
            raise _AlreadyMade(existing)

    info = model_info(ws, model_manifest, DatasetInfo.from_manifest(plan.dataset))
    train_split = load_split(ws, plan.dataset, "train")
    view: TrainingView = training_view(ws, plan.forget, len(train_split), model_manifest)
    model = load_weights(ws, model_manifest, device)
    switches = switches.for_model(model, device)
    init_loader = None
    if "init" in model_manifest.files:
        init_path = ws.abs(model_manifest.file("init").path)

        def init_loader() -> dict[str, torch.Tensor]:
            return load_tensors(init_path)

    config = {
        "request": request_of(options),
        "method": spec.name,
        "preset": options.preset,
        "params": _jsonable(asdict(plan.params)),
        "seed": options.seed,
        "model": model_manifest.name,
        "forget": plan.forget.name,
        "dataset": info.name,
        "architecture": arch.to_config(),
        "training": _jsonable({"recipe": asdict(training.recipe), "augment": training.augment}) if training else None,
        "device": device.type,
        "world_size": dist.world_size,
        "speed": asdict(switches),
    }
    checkpoint = Checkpointer(ws.ckpt_path(plan.name, ".resume", kind="unlearned"), fingerprint=config) if spec.trains else None
    if checkpoint is not None:
        checkpoint.refuse_to_start_over(f"run {plan.name}", resume=options.resume, force=options.force)
    if options.resume and checkpoint is not None and not checkpoint.exists():
        log.warning("no checkpoint of %s to resume; starting from the beginning", plan.name)
    ctx = UnlearnContext(
        model=model, arch=arch, info=info, view=view,
        train_split=DeviceSplit.from_numpy(train_split.images, train_split.labels, device),
        device=device, seed=options.seed, training=training, switches=switches,
        description=f"{spec.name} {plan.name}", checkpoint=checkpoint, resume=options.resume,
        init_state_loader=init_loader, dist=dist,
    )
    return PreparedRun(plan, ctx, config, checkpoint)


def best_preset_path(ws: Workspace, study: str) -> Path:
    """Where `unlearn tune` writes study `study`'s best values as a preset file."""
    return ws.manifest_path("tune", study).parent / f"{study}.toml"


def tuned_preset(ws: Workspace, options: UnlearnOptions) -> UnlearnOptions:
    """`--preset tune:STUDY` as the path of that study's best preset file in this workspace."""
    if not (options.preset and options.preset.startswith(TUNED_PRESET)):
        return options
    study = options.preset[len(TUNED_PRESET):]
    path = best_preset_path(ws, study)
    if not path.is_file():
        raise InputError(f"study {study} has no best preset in this workspace yet ({path})",
                         hint=f"run it first: unlearn tune --method {options.method} --study {study} ...")
    return replace(options, preset=str(path))


def unlearn(ws: Workspace, options: UnlearnOptions) -> Path | None:
    """Run the method and write the unlearned artifact; returns its manifest path (None on
    the non-zero ranks of a torchrun launch)."""
    options = tuned_preset(ws, options)
    tracker = chosen_tracker(options.tracker)  # a missing tracker package is said before training
    try:
        run = prepare(ws, options)
    except _AlreadyMade as made:
        log.info("%s: run already with the same settings", made.path.stem)
        return made.path
    plan, ctx, spec = run.plan, run.ctx, run.plan.spec
    _sync(ctx.device)
    started = time.perf_counter()
    result = spec.run(ctx, plan.params)
    _sync(ctx.device)
    wall = time.perf_counter() - started
    fit = ctx.fit_result
    if fit is not None:
        wall += fit.resumed_seconds - fit.warmup_seconds
    unlearned = unwrap(result.model)
    if not ctx.dist.is_main:
        distributed.barrier()
        distributed.shutdown()
        return None

    _check_same_outputs(unlearned, ctx.num_classes, spec.name)
    summary = {
        "wall_seconds": wall,
        "threads": torch.get_num_threads(),  # CPU threads the run had (train/threads.py)
        "steps": fit.steps if fit else 0,
        "epochs": fit.epochs if fit else 0,
        "final_loss": fit.last_loss if fit and math.isfinite(fit.last_loss) else None,
        "forget_size": int(ctx.view.forget.sum()),
        "retain_size": int(ctx.view.retain.sum()),
        **_jsonable(result.summary),
    }
    paths = {"weights": ws.ckpt_path(plan.name, kind="unlearned")}
    history = fit.history.table() if fit is not None and fit.history is not None else None
    if history is not None:  # a method that trains keeps its curves
        paths["history"] = ws.table_path("unlearned", plan.name, "history")
    with ws.replacing("unlearned", plan.name, paths.values()):
        save_tensors(paths["weights"], unlearned.state_dict(), {"architecture": ctx.arch.name, "method": spec.name})
        if history is not None:
            save_table(paths["history"], history)
        manifest = Manifest(
            kind="unlearned", name=plan.name, config=run.config,
            parents={"model": ws.parent_ref(plan.model), "forget": ws.parent_ref(plan.forget)},
            files={role: ws.file_ref(path) for role, path in paths.items()}, summary=summary,
        )
        path = ws.write(manifest)
        if run.checkpoint is not None:
            run.checkpoint.remove()  # under the name's lock, as in pretrain
    tracking.mirror(ws, tracker, manifest, path, history)
    _report_accuracies(ws, plan, ctx, unlearned)
    distributed.barrier()
    distributed.shutdown()
    return path


def _report_accuracies(ws: Workspace, plan: _Plan, ctx: UnlearnContext, model: torch.nn.Module) -> None:
    """The run's forget and test accuracy on stderr (train/sanity.py), in float32: one pass over
    D_f and the test split, a fraction of what the method cost. A model with a validation split
    shows validation accuracy instead, so a run never reads the test split (`tune` relies on it)."""
    forget_rows = np.flatnonzero(ctx.view.forget)
    forget_logits = predict_logits(model, ctx.eval_loader(forget_rows))
    if ctx.view.validation is not None:
        rows = np.flatnonzero(ctx.view.validation)
        held_out, labels = "validation", torch.from_numpy(ctx.view.labels[rows])
        logits = predict_logits(model, ctx.eval_loader(rows))
    else:
        test = load_split(ws, plan.dataset, "test")
        test_loader = eval_loader(DeviceSplit.from_numpy(test.images, test.labels, ctx.device), ctx.info.mean,
                                  ctx.info.std)
        held_out, labels, logits = "test", torch.from_numpy(test.labels), predict_logits(model, test_loader)
    held_out_accuracy = accuracy(logits, labels)
    forget_labels = torch.from_numpy(ctx.view.train_label[forget_rows])
    sanity.report(f"{plan.spec.name} {plan.name}",
                  {"forget": accuracy(forget_logits, forget_labels), held_out: held_out_accuracy},
                  [sanity.chance_warning(f"run {plan.name}", held_out_accuracy, ctx.num_classes)])


def _check_model(spec: MethodSpec, params: Any, arch: Architecture) -> None:
    """What the method needs of the architecture, checked on a freshly built skeleton before
    any data is loaded: a valid `k` (CF-k, EU-k), and the method's own needs."""
    skeleton = arch.build()
    k = getattr(params, "k", None)
    if k is not None:
        ks = valid_ks(skeleton)
        if k not in ks:
            raise InputError(f"k={k} is not a valid k for {arch.name}: k counts weight layers from the "
                             "output and cuts only between its blocks",
                             hint=f"choose k from {', '.join(map(str, ks))}")
    if spec.check_model is not None:
        spec.check_model(skeleton, params)


def _check_same_outputs(model: torch.nn.Module, num_classes: int, method: str) -> None:
    head = getattr(model, "head", None)
    if head is not None and getattr(head, "out_features", num_classes) != num_classes:
        raise AssertionError(f"method {method} returned a model with {head.out_features} outputs, "
                             f"not {num_classes}")


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _jsonable(value: Any) -> Any:
    """Values as JSON keeps them (tuples become lists, numpy scalars plain numbers)."""
    return json.loads(json.dumps(value, default=lambda v: v.item() if isinstance(v, np.generic) else str(v)))
