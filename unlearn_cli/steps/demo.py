"""`unlearn demo`: the whole story on the embedded digits set, in one process (README.md, the
first command).

Prepare digits, pretrain the small cnn, draw two forget sets (random 10 % and the hardest
10 %), run retrain and four contrasting methods over several seeds, evaluate each run against
the retrain run of the same seed and forget set, and write the report. Every step is the same
library call as its CLI command; an artifact that already exists and validates is reused, so
the demo is re-runnable (`force` redoes everything).

The methods run at learning rates suited to digits' ~11 steps per epoch: the papers' defaults
(tuned for CIFAR runs of hundreds of steps) barely move a digits model, which would make every
method look like the original.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from unlearn_cli.artifacts import Workspace
from unlearn_cli.errors import ArtifactError, InputError
from unlearn_cli.steps.evaluate import evaluate
from unlearn_cli.steps.forget_set import make_forget_set
from unlearn_cli.steps.options import (
    EvaluateOptions,
    ForgetSetOptions,
    PrepareOptions,
    PretrainOptions,
    ReportOptions,
    UnlearnOptions,
)
from unlearn_cli.steps.prepare_data import prepare_dataset
from unlearn_cli.steps.pretrain import pretrain
from unlearn_cli.steps.report import ReportResult, report
from unlearn_cli.steps.unlearn import unlearn
from unlearn_cli.train.options import GenericOptions

DATASET = "digits"
MODEL = "digits-cnn-s0"
REPORT = "demo"
# (name, forget-set kind params): NatMU's random 10 % and hardest 10 % sets.
FORGET_SETS = (("random10", {"per": 10}), ("hardest10", {"per": 110}))
# The four contrasting methods besides retrain, each with what it needs on digits.
METHODS: tuple[tuple[str, GenericOptions], ...] = (
    ("finetune", GenericOptions()),
    ("random_label", GenericOptions(lr=3e-3)),
    ("badteacher", GenericOptions(lr=1e-3, epochs=3)),
    ("natmu", GenericOptions(lr=1e-2)),
)


@dataclass(frozen=True)
class DemoOptions:
    seeds: int = 3
    device: str | None = None
    force: bool = False


Progress = Callable[[str], None]


def _todo(ws: Workspace, progress: Progress, kind: str, name: str, force: bool, what: str) -> bool | None:
    """None when the artifact exists and validates (reused); otherwise the `force` the step
    must run with — True also where a damaged artifact of that name has to be replaced.
    Says which on one progress line."""
    if not force and ws.exists(kind, name):
        try:
            ws.read(kind, name)
        except ArtifactError:
            progress(f"{what}: {name} is damaged, making it again …")
            return True
        progress(f"{what}: reusing {name}")
        return None
    progress(f"{what} …")
    return force


def run_demo(ws: Workspace, options: DemoOptions, progress: Progress) -> ReportResult:
    if not 1 <= options.seeds <= 10:
        raise InputError(f"--seeds {options.seeds} is outside 1..10", hint="e.g. --seeds 3")
    force, device = options.force, options.device
    if (again := _todo(ws, progress, "dataset", DATASET, force, "prepare digits")) is not None:
        prepare_dataset(ws, PrepareOptions(dataset=DATASET, force=again))
    if (again := _todo(ws, progress, "model", MODEL, force, "pretrain the cnn on digits")) is not None:
        pretrain(ws, PretrainOptions(dataset=DATASET, model="cnn", device=device, force=again))
    for forget, params in FORGET_SETS:
        if (again := _todo(ws, progress, "forget-set", forget, force, f"forget set {forget}")) is not None:
            make_forget_set(ws, ForgetSetOptions(model=MODEL, kind="per", params=params, name=forget, force=again))
    evaluations: list[str] = []
    for forget, _ in FORGET_SETS:
        for seed in range(options.seeds):
            reference = f"{forget}-retrain-s{seed}"
            runs = [("retrain", GenericOptions()), *METHODS]
            for method, generic in runs:
                name = f"{forget}-{method}-s{seed}"
                if (again := _todo(ws, progress, "unlearned", name, force, f"{method} on {forget}, seed {seed}")) \
                        is not None:
                    unlearn(ws, UnlearnOptions(method=method, forget=forget, generic=generic, seed=seed, name=name,
                                               device=device, force=again))
            for method, _ in runs:
                name = f"{forget}-{method}-s{seed}"
                if (again := _todo(ws, progress, "evaluation", name, force, f"evaluate {name}")) is not None:
                    evaluate(ws, EvaluateOptions(run=name, reference=reference, device=device, force=again))
                evaluations.append(name)
        # The model before unlearning, for the table's "original" row.
        original = f"{MODEL}--{forget}"
        if (again := _todo(ws, progress, "evaluation", original, force,
                           f"evaluate the original model on {forget}")) is not None:
            evaluate(ws, EvaluateOptions(run=MODEL, forget=forget, reference=f"{forget}-retrain-s0", name=original,
                                         device=device, force=again))
        evaluations.append(original)
    progress("report …")
    # The report always reflects this run's evaluations, so it is rewritten every time.
    return report(ws, ReportOptions(evaluations=tuple(evaluations), name=REPORT, force=True))


def default_workspace() -> Path:
    return Path("demo")
