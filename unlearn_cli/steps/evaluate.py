"""The `evaluate` step: run a model over its forget set, retain set and test set and compute
every applicable metric of docs/metrics.md (optionally against a retrain reference).

Writes a long-form metrics table (run, method, seed, forget set, metric, value), a per-sample
table that stronger attacks can reuse, and an evaluation manifest.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import torch

from unlearn_cli.artifacts import Manifest, Workspace, name_or_default, save_table
from unlearn_cli.data.loader import BatchLoader, DeviceSplit
from unlearn_cli.data.prepared import DatasetInfo, PreparedSplit, load_split
from unlearn_cli.errors import ArtifactError, InputError
from unlearn_cli.forget.kinds import FINE_KEY
from unlearn_cli.forget.manipulations import Manipulation
from unlearn_cli.forget.view import TrainingView
from unlearn_cli.metrics import EvalContext, Outputs, compute_metrics, per_sample_table
from unlearn_cli.steps.common import dataset_of, load_weights, model_info, training_view, view_loader
from unlearn_cli.steps.options import EvaluateOptions, request_of
from unlearn_cli.train.device import SpeedSwitches, resolve_device
from unlearn_cli.train.inference import eval_loader, predict_logits

log = logging.getLogger(__name__)

RUN_KINDS = ("unlearned", "model")


@dataclass
class EvaluationResult:
    manifest_path: Path
    metrics: dict[str, float]


def read_run(ws: Workspace, ref: str) -> Manifest:
    """A run is an unlearned model or, for the "before" row, a pretrained one."""
    return ws.read_one_of(RUN_KINDS, ref)


def pretrained_model(ws: Workspace, run: Manifest) -> Manifest | None:
    """The pretrained model a run is (the "before" row) or was unlearned from; None if it names
    none (its forget set's model then stands for it)."""
    if run.kind == "model":
        return run
    return ws.read("model", ws.abs(run.parents["model"].path)) if "model" in run.parents else None


def forget_of(ws: Workspace, run: Manifest, explicit: str | None) -> Manifest:
    """The forget set a run is evaluated on: its own (unlearned runs), the manipulation it was
    trained on, or the one given with --forget."""
    own = run.parents.get("forget") or run.parents.get("manipulation")
    if explicit is not None:
        forget = ws.read("forget-set", explicit)
        if own is not None and ws.parent_ref(forget) != own and run.kind == "unlearned":
            raise InputError(f"run {run.name} was unlearned on another forget set than {forget.name}",
                             hint="leave out --forget to use the run's own")
        return forget
    if own is None:
        raise InputError(f"run {run.name} has no forget set of its own",
                         hint="pass --forget <forget-set manifest>")
    return ws.read("forget-set", ws.abs(own.path))


def forget_test_mask(forget: Manifest, labels: np.ndarray, extra: dict[str, np.ndarray],
                     split: str = "test split") -> np.ndarray | None:
    """The images (of `split`, by their `labels` and `extra` label columns) of what a class-wise
    forget set forgets (docs/metrics.md): the class's, or the fine class's on a superclass
    dataset, as NatMU splits its test set. None otherwise."""
    config = forget.config
    if config.get("forget_class") is not None:
        return labels == int(config["forget_class"])
    if config.get("forget_subclass") is not None:
        if FINE_KEY not in extra:
            raise ArtifactError(f"the {split} has no {FINE_KEY} for sub-class forget set {forget.name}",
                                hint="re-run prepare-data for this superclass dataset with --force")
        return extra[FINE_KEY] == int(config["forget_subclass"])
    if config.get("kind") == "subclass":
        raise ArtifactError(f"sub-class forget set {forget.name} does not record its fine class",
                            hint="re-make it with make-forget-set --force")
    return None


class _Evaluator:
    """Runs models over the splits of one dataset and forget set (data loaded once)."""

    def __init__(self, ws: Workspace, dataset: Manifest, forget: Manifest, model: Manifest | None, device: torch.device,
                 switches: SpeedSwitches) -> None:
        self.ws = ws
        self.info = DatasetInfo.from_manifest(dataset)
        self.device = device
        self.switches = switches
        train: PreparedSplit = load_split(ws, dataset, "train")
        test: PreparedSplit = load_split(ws, dataset, "test")
        self.view: TrainingView = training_view(ws, forget, len(train), model)
        self.train = DeviceSplit.from_numpy(train.images, train.labels, device)
        self.test = DeviceSplit.from_numpy(test.images, test.labels, device)
        self.test_labels = test.labels.astype(np.int64)
        self.forget_test = forget_test_mask(forget, test.labels, test.extra)
        recorded = self.view.manipulation
        self.manipulation = Manipulation.from_config(recorded) if recorded else None

    def _triggered_test(self, seen: DatasetInfo) -> BatchLoader:
        everywhere = np.ones(len(self.test_labels), dtype=bool)
        return eval_loader(self.test, seen.mean, seen.std, poisoned=everywhere, trigger=self.view.trigger)

    def _logits(self, model: torch.nn.Module, loader: BatchLoader) -> np.ndarray:
        return predict_logits(model, loader, amp=self.switches.amp,
                              channels_last=self.switches.channels_last).numpy()

    def context(self, run: Manifest, seed: int, reference: EvalContext | None = None) -> EvalContext:
        """One forward pass per split (the whole train split, D_f and D_r together; the test
        split; the triggered test split for a poison), shared by every metric."""
        model = load_weights(self.ws, run, self.device)
        seen = model_info(self.ws, run, self.info)  # with the model's own normalisation
        train_logits = self._logits(model, view_loader(self.train, seen, self.view))
        test_logits = self._logits(model, view_loader(self.test, seen))
        triggered = None
        if self.manipulation is not None and self.manipulation.kind == "poison":
            triggered = Outputs(self._logits(model, self._triggered_test(seen)), self.test_labels)
        return EvalContext(
            train=Outputs(train_logits, self.view.train_label),
            true_train_labels=self.view.labels,
            forget=self.view.forget,
            manipulated=self.view.manipulated,
            test=Outputs(test_logits, self.test_labels),
            test_triggered=triggered,
            num_classes=self.info.num_classes,
            forget_test=self.forget_test,
            manipulation=self.manipulation,
            seed=seed,
            wall_seconds=run.summary.get("wall_seconds"),
            reference=reference,
            held_out=self.view.excluded,
            validation=self.view.validation,
        )


def _long_table(run: Manifest, forget: Manifest, seed: int, metrics: dict[str, float]) -> pa.Table:
    method = run.config.get("method", "original" if run.kind == "model" else "unknown")
    n = len(metrics)
    return pa.table({
        "run": [run.name] * n,
        "method": [method] * n,
        "seed": pa.array([int(run.config.get("seed", seed))] * n, pa.int64()),
        "forget_set": [forget.name] * n,
        "metric": list(metrics),
        "value": pa.array(list(metrics.values()), pa.float64()),
    })


def _check_reference_run(ws: Workspace, run: Manifest, reference: Manifest) -> None:
    """An unlearned reference must be a retrain run from the same pretrained model: the gap
    metrics measure the distance to *that model's* gold standard."""
    if reference.kind != "unlearned":
        return
    method = reference.config.get("method")
    if method != "retrain":
        raise InputError(f"reference {reference.name} is a {method} run, not a retrain run",
                         hint="pass the retrain run on the same forget set (unlearn unlearn --method retrain)")
    run_model = run.parents.get("model") if run.kind == "unlearned" else ws.parent_ref(run)
    if reference.parents.get("model") != run_model:
        raise InputError(f"reference {reference.name} was retrained from another model than {run.name}",
                         hint="pass the retrain run made from the same pretrained model")


def evaluate(ws: Workspace, options: EvaluateOptions) -> EvaluationResult:
    options.validate()
    run = read_run(ws, options.run)
    forget = forget_of(ws, run, options.forget)
    dataset = dataset_of(ws, run)
    if forget.parents.get("dataset") != ws.parent_ref(dataset):
        raise InputError(f"forget set {forget.name} belongs to another dataset than run {run.name}",
                         hint="evaluate a run with a forget set made for its dataset")
    reference = None
    if options.reference is not None:
        reference = read_run(ws, options.reference)
        if dataset_of(ws, reference).source != dataset.source:
            raise InputError(f"reference {reference.name} was trained on another dataset than {run.name}",
                             hint="pass a retrain run on the same dataset and forget set")
        ref_forget = reference.parents.get("forget")
        if ref_forget is not None and ref_forget != ws.parent_ref(forget):
            raise InputError(f"reference {reference.name} was made on another forget set than {forget.name}",
                             hint="pass a retrain run made from the same forget set")
        _check_reference_run(ws, run, reference)
    default_name = run.name if run.kind == "unlearned" else f"{run.name}--{forget.name}"
    name = name_or_default(options.name, default_name)
    request = request_of(options)
    existing = ws.check_new("evaluation", name, options.force, request=request)
    if existing is not None:
        log.info("%s: evaluated already with the same settings", name)
        return EvaluationResult(existing, ws.read("evaluation", name).summary)

    device = resolve_device(options.device)
    switches = SpeedSwitches.for_device(device, amp=options.amp, channels_last=options.channels_last, compile=False)
    evaluator = _Evaluator(ws, dataset, forget, pretrained_model(ws, run), device, switches)
    ref_ctx = evaluator.context(reference, options.seed) if reference is not None else None
    ctx = evaluator.context(run, options.seed, reference=ref_ctx)
    metrics = compute_metrics(ctx, list(options.metrics) if options.metrics else None)

    paths = {"metrics": ws.table_path("evaluation", name, "metrics"),
             "samples": ws.table_path("evaluation", name, "samples")}
    with ws.replacing("evaluation", name, paths.values()):
        save_table(paths["metrics"], _long_table(run, forget, options.seed, metrics))
        save_table(paths["samples"], per_sample_table(ctx))
        parents = {"run": ws.parent_ref(run), "forget": ws.parent_ref(forget)}
        if reference is not None:
            parents["reference"] = ws.parent_ref(reference)
        manifest = Manifest(
            kind="evaluation", name=name, parents=parents,
            config={"request": request, "run": run.name, "run_kind": run.kind, "method": run.config.get("method", "original"),
                    "forget": forget.name, "reference": reference.name if reference else None,
                    "metrics": list(options.metrics) if options.metrics else None, "seed": options.seed,
                    "dataset": evaluator.info.name, "speed": asdict(switches)},
            files={role: ws.file_ref(path) for role, path in paths.items()},
            summary=json.loads(json.dumps(metrics)),
        )
        manifest_path = ws.write(manifest)
    return EvaluationResult(manifest_path, metrics)
