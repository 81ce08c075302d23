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

`audit=True` adds a small `fixed` audit (`unlearn audit`, docs/audits.md) of retrain, finetune
and natmu on the random 10 % set: AUDIT_MODELS originals of the demo's cnn, each method's runs
and the retrains as sweep nodes, so the three audits share the originals and retrains and a
re-run reuses every audit that still validates. The report then tabulates them too.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from unlearn_cli.artifacts import Workspace
from unlearn_cli.audit.design import AuditSettings
from unlearn_cli.audit.run import AuditOptions, run_audit
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
from unlearn_cli.sweep.run import Events
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
# The audit: the random set, and the control (retrain, at chance) against two methods. Eight
# models a side is the least that gives every attack its statistics (F_null needs N >= 8)
# while keeping the audit to minutes on a laptop; the intervals say how little that is.
AUDIT_FORGET = "random10"
AUDIT_METHODS = ("retrain", "finetune", "natmu")
AUDIT_MODELS = 8
AUDIT_RESAMPLES = 200  # bootstrap resamples: seconds of statistics, intervals to ~0.01


@dataclass(frozen=True)
class DemoOptions:
    seeds: int = 3
    device: str | None = None
    force: bool = False
    audit: bool = False
    audit_models: int = AUDIT_MODELS  # models a side (fewer: F_null is left out below 8)
    jobs: int | None = None  # the audit's models trained at once (as `unlearn audit --jobs`)


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
        # A demo killed mid-pretraining continues from its checkpoint on the next run.
        resume = not again and ws.ckpt_path(MODEL, ".resume").exists()
        pretrain(ws, PretrainOptions(dataset=DATASET, model="cnn", device=device, force=again, resume=resume))
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
                    resume = not again and ws.ckpt_path(name, ".resume", kind="unlearned").exists()
                    unlearn(ws, UnlearnOptions(method=method, forget=forget, generic=generic, seed=seed, name=name,
                                               device=device, force=again, resume=resume))
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
    if options.audit:
        # By path: an audit may share its name with nothing, but the report tries names as
        # evaluations first.
        evaluations.extend(str(path) for path in run_demo_audits(ws, options, progress))
    progress("report …")
    # The report always reflects this run's evaluations, so it is rewritten every time.
    return report(ws, ReportOptions(evaluations=tuple(evaluations), name=REPORT, force=True))


def audit_name(method: str, models: int = AUDIT_MODELS) -> str:
    return f"{AUDIT_FORGET}-{method}-n{models}"


def run_demo_audits(ws: Workspace, options: DemoOptions, progress: Progress) -> list[Path]:
    """The three audits' manifests, each reused where it exists and validates (its settings
    are the demo's constants); the first makes the originals and retrains the others reuse."""
    methods = dict(METHODS)
    paths = []
    for method in AUDIT_METHODS:
        name = audit_name(method, options.audit_models)
        what = f"audit {method} on {AUDIT_FORGET} ({options.audit_models} models a side)"
        if (again := _todo(ws, progress, "audit", name, options.force, what)) is not None:
            settings = AuditSettings(method=method, forget=AUDIT_FORGET, generic=methods.get(method, GenericOptions()),
                                     models=options.audit_models)
            # A line per model made: the audit's first method makes minutes of them.
            events = Events(finished=lambda outcome: progress(f"  {outcome.node}: {outcome.status} "
                                                              f"({outcome.seconds:.1f} s)"))
            result = run_audit(ws, AuditOptions(settings=settings, name=name, force=again, jobs=options.jobs,
                                                device=options.device, resamples=AUDIT_RESAMPLES), events)
            if result.sweep is not None:
                tally = result.sweep.tally()
                progress(f"audit {method}: {tally['ran']} steps run, {tally['already']} reused")
        paths.append(ws.manifest_path("audit", name))
    return paths


def default_workspace() -> Path:
    return Path("demo")
