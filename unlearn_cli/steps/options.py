"""Every step's options, with the step's own rules: what the CLI, the sweep planner and library
callers hand a step. Torch-free, so `unlearn --help` and a sweep's `--plan` build them without
loading a model; the registries a rule needs are imported when it runs.

`validate()` holds the checks that need no workspace (ranges, registered names, a preset that
covers the method, options a method that does not train cannot take); the step calls it first
and the planner calls it on every node it plans, so a grid is checked cell by cell, with the
grid line of the value, before anything runs. Checks that need the data (does the model fit
the images, does the forget set belong to the model) stay in the steps.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from unlearn_cli.errors import InputError
from unlearn_cli.train.options import GenericOptions

if TYPE_CHECKING:
    from unlearn_cli.methods import MethodSpec
    from unlearn_cli.methods.presets import ResolvedPreset

DEFAULT_RECIPE = "fast"
DEFAULT_DATASET = "digits"


# How and where a step runs, not what it makes: left out of the request an artifact records.
NOT_REQUEST = frozenset({"force", "resume", "device", "name", "tracker"})


def request_of(options: Any) -> dict[str, Any]:
    """What a step was asked to make, as JSON data: its options without NOT_REQUEST. An artifact
    records it (config["request"]), and the same request again finds that artifact instead of
    refusing the name (`Workspace.check_new`)."""
    import json
    from dataclasses import asdict

    fields = {key: value for key, value in asdict(options).items() if key not in NOT_REQUEST}
    return json.loads(json.dumps(fields, default=str, sort_keys=True))


def check_width(width: float, what: str = "--width") -> float:
    """The channel-width multiplier: a positive number (`what` names it in the message)."""
    if not (isinstance(width, (int, float)) and not isinstance(width, bool) and width > 0 and math.isfinite(width)):
        raise InputError(f"{what} must be positive (got {width})", hint="e.g. --width 0.5 for a tiny model")
    return float(width)


@dataclass(frozen=True)
class PrepareOptions:
    dataset: str
    source: Path | None = None
    download: bool = False
    force: bool = False

    def validate(self) -> None:
        from unlearn_cli.data.sources import DATASETS

        DATASETS.get(self.dataset)


@dataclass(frozen=True)
class PretrainOptions:
    dataset: str | None  # None: the manipulation's dataset, else digits
    model: str
    recipe: str = DEFAULT_RECIPE
    epochs: int | None = None
    steps: int | None = None
    lr: float | None = None
    batch_size: int | None = None
    weight_decay: float | None = None
    drop_last: bool | None = None  # None: the recipe's
    normalization: str | None = None  # None: the recipe's
    seed: int = 0
    width: float = 1.0
    device: str | None = None
    name: str | None = None
    manipulation: str | None = None
    resume: bool = False
    force: bool = False
    amp: bool | None = None
    channels_last: bool | None = None
    compile: bool | None = None
    # A .npy of train rows left out of training (the halves audit's shadows): recorded in the
    # model manifest, and downstream neither D_f nor D_r (steps/common.py `training_view`).
    exclude: Path | None = None
    # A seeded, class-balanced share of the train split held out as a validation split
    # (recorded in the model manifest; neither D_f nor D_r downstream): what `tune` scores on.
    val_fraction: float = 0.0
    tracker: str | None = None  # None: UNLEARN_TRACKER's (unlearn_cli/trackers/)

    def validate(self) -> None:
        from unlearn_cli.models import MODELS
        from unlearn_cli.trackers import chosen_tracker

        chosen_tracker(self.tracker)
        check_width(self.width)
        check_val_fraction(self.val_fraction)
        MODELS.get(self.model)
        # The recipe's fields with this run's overrides: epochs/steps, lr, batch, normalisation.
        self.recipe_for(self.dataset or DEFAULT_DATASET)

    def default_name(self, base: str) -> str:
        """The model's name when none is given: `base` (the dataset, or the manipulation the model
        trains on), the architecture, then whatever makes this model differ from the defaults —
        width, recipe, validation split, each training override — then the seed; so two
        different models never meet on one name (artifacts/naming.py). `pretrain` and a sweep's
        planner both name models with it."""
        from unlearn_cli.artifacts import naming
        from unlearn_cli.train.options import GenericOptions

        overrides = GenericOptions(epochs=self.epochs, steps=self.steps, lr=self.lr, batch_size=self.batch_size,
                                   weight_decay=self.weight_decay)
        tags = [f"val{naming.compact(self.val_fraction)}"] if self.val_fraction else []
        tags += overrides.name_tags()
        if self.drop_last is not None:
            tags.append("droplast" if self.drop_last else "keeplast")
        if self.normalization is not None:
            tags.append(f"norm{naming.safe(self.normalization)}")
        return naming.model_name(base, self.model, self.seed, width=self.width,
                                 recipe=None if self.recipe == DEFAULT_RECIPE else self.recipe, tags=tags)

    def recipe_for(self, dataset: str):
        """The resolved recipe of this run on `dataset`."""
        from unlearn_cli.train.recipes import resolve_recipe

        return resolve_recipe(self.recipe, dataset, self.model).with_overrides(
            epochs=self.epochs, steps=self.steps, lr=self.lr, batch_size=self.batch_size,
            weight_decay=self.weight_decay, drop_last=self.drop_last, normalization=self.normalization)


@dataclass(frozen=True)
class ManipulationOptions:
    kind: str
    size: int
    known: float = 1.0
    patch_size: int = 3
    target: str = "0"
    classes: tuple[str, str] | None = None

    def validate(self) -> None:
        from unlearn_cli.forget.manipulations import MANIPULATIONS, check_known_fraction, check_size

        MANIPULATIONS.get(self.kind)
        check_size(self.size)
        check_known_fraction(self.known)


@dataclass(frozen=True)
class ForgetSetOptions:
    model: str | None = None
    dataset: str | None = None
    kind: str | None = None  # a FORGET_KINDS name
    params: dict[str, Any] = field(default_factory=dict)
    manipulation: ManipulationOptions | None = None
    seed: int = 0
    name: str | None = None
    device: str | None = None
    force: bool = False

    def validate(self) -> None:
        if (self.model is None) == (self.dataset is None):
            raise InputError("give exactly one of --model and --dataset",
                             hint="--model for a forget set of a trained model; --dataset with --manipulation "
                             "before pretraining")
        if (self.kind is None) == (self.manipulation is None):
            raise InputError("choose what to forget: one of --per, --fraction, --class, --subclass, --indices, "
                             "or --manipulation",
                             hint="e.g. --per 10, or --manipulation poison --size 500 --known 0.5")
        if self.manipulation is not None:
            if self.model is not None:
                raise InputError("manipulations are made before pretraining, from a dataset",
                                 hint="use --dataset D --manipulation ..., then pretrain --manipulation <that manifest>")
            self.manipulation.validate()
        else:
            self.resolved_params()

    def resolved_params(self) -> Any:
        """The forget kind's typed parameters (every bad key and value reported at once)."""
        from unlearn_cli.forget import FORGET_KINDS, resolve_params

        return resolve_params(FORGET_KINDS.get(self.kind), self.params)


@dataclass(frozen=True)
class MethodChoice:
    """What an unlearn run's method settings resolve to."""

    spec: MethodSpec
    params: Any  # the method's typed params: defaults → preset → --param
    baseline: Any  # the params under the preset alone: a run's name shows what differs from it
    preset: ResolvedPreset | None


@dataclass(frozen=True)
class UnlearnOptions:
    method: str
    model: str | None = None
    forget: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    preset: str | None = None
    generic: GenericOptions = field(default_factory=GenericOptions)
    seed: int = 0
    device: str | None = None
    amp: bool | None = None
    channels_last: bool | None = None
    compile: bool | None = None
    name: str | None = None
    force: bool = False
    resume: bool = False
    tracker: str | None = None  # None: UNLEARN_TRACKER's (unlearn_cli/trackers/)

    def validate(self) -> None:
        from unlearn_cli.trackers import chosen_tracker

        chosen_tracker(self.tracker)
        self.resolve()

    def resolve(self) -> MethodChoice:
        """The method, its preset entry and its parameters; a method that does not train
        refuses the training options it would otherwise silently ignore. A `tune:STUDY` preset
        is read in the workspace when the run starts (`steps/unlearn.py`); here, before the
        study may have run, the rest is checked without it."""
        from unlearn_cli.methods import METHODS
        from unlearn_cli.methods.presets import preset_for
        from unlearn_cli.params import resolve_params

        spec = METHODS.get(self.method)
        self.generic.check()
        readable = self.preset and not self.preset.startswith(TUNED_PRESET)
        preset = preset_for(self.preset, spec.name) if readable else None
        params = resolve_params(spec.params, {**(preset.params if preset else {}), **self.params},
                                f"method '{spec.name}'")
        baseline = resolve_params(spec.params, preset.params if preset else {}, f"preset {self.preset}")
        refused = spec.refused(self.generic.given() + (["--resume"] if self.resume else []))
        if refused:
            raise InputError(f"{', '.join(refused)} {'does' if len(refused) == 1 else 'do'} not apply: "
                             f"method '{spec.name}' does not train",
                             hint=f"leave out {', '.join(refused)}; see `unlearn ls methods` for its parameters")
        return MethodChoice(spec, params, baseline, preset)


@dataclass(frozen=True)
class EvaluateOptions:
    run: str
    forget: str | None = None
    reference: str | None = None
    metrics: tuple[str, ...] | None = None
    name: str | None = None
    seed: int = 0
    device: str | None = None
    force: bool = False
    # Speed switches of the forward passes. Measurement is exact before it is fast: both are
    # off unless asked for, so the logits are float32 whatever precision the model trained in.
    amp: bool = False
    channels_last: bool = False

    def validate(self) -> None:
        if self.metrics:
            from unlearn_cli.metrics import check_metric_names

            check_metric_names(self.metrics)


def rows_digest(*row_sets: tuple[int, ...]) -> str:
    """A short digest of row lists (each as int64, in order, separated): what a query's
    name shows, so queries of other rows get other names."""
    import hashlib

    import numpy as np

    digest = hashlib.sha256()
    for rows in row_sets:
        digest.update(np.asarray(rows, dtype=np.int64).tobytes())
        digest.update(b"|")
    return digest.hexdigest()[:10]


@dataclass(frozen=True)
class QueryOptions:
    """One run's float32 logits on train `rows` (plain and horizontally flipped), on the train
    rows `retain` and the test rows `test` (plain), and its accuracy on each whole split."""

    run: str  # an unlearned run or a model
    rows: tuple[int, ...]
    retain: tuple[int, ...] = ()
    test: tuple[int, ...] = ()
    name: str | None = None
    device: str | None = None
    force: bool = False

    def validate(self) -> None:
        if not self.rows:
            raise InputError("a query needs at least one train row", hint="give the rows the audit attacks")
        for what, rows in (("rows", self.rows), ("retain rows", self.retain), ("test rows", self.test)):
            if any(row < 0 for row in rows) or len(set(rows)) != len(rows):
                raise InputError(f"the query's {what} must be distinct non-negative row indices",
                                 hint="rows are numbered from 0 within their split")

    @property
    def digest(self) -> str:
        return rows_digest(self.rows, self.retain, self.test)

    def default_name(self) -> str:
        from unlearn_cli.artifacts import naming

        return naming.query_name(self.run, self.digest)


@dataclass(frozen=True)
class ReportOptions:
    evaluations: tuple[str, ...] = ()  # manifest paths or names
    every: bool = False  # --all: every evaluation in the workspace
    name: str | None = None
    force: bool = False
    curves: bool = False  # also plot each run's training curves (report/curves.py)

    def validate(self) -> None:
        return None


# ---------------------------------------------------------------------------------- tune

# What `unlearn tune` minimises (tune/objective.py): avg_gap (TPE) or the four gaps (NSGA-II).
OBJECTIVES = ("avg_gap", "nsga")
# `--preset tune:STUDY`: the best preset of study STUDY in the workspace (read when the run
# starts, so a grid can name it before the study has run).
TUNED_PRESET = "tune:"
def check_val_fraction(value: float) -> None:
    if not (math.isfinite(value) and 0.0 <= value < 1.0):
        raise InputError(f"--val-fraction {value} is outside [0, 1)", hint="hold out a small share, e.g. --val-fraction 0.05")


def check_trials(value: int) -> None:
    if value < 1:
        raise InputError(f"--trials {value} is not positive", hint="e.g. --trials 30")


def check_objective(value: str) -> None:
    if value not in OBJECTIVES:
        raise InputError(f"unknown objective '{value}'", hint=f"valid objectives: {', '.join(OBJECTIVES)}")


FRESH_SEEDS = 3  # the best trial is re-run on this many seeds none of the trials used


@dataclass(frozen=True)
class TuneOptions:
    method: str
    forget: str | None = None
    model: str | None = None
    trials: int = 20
    seeds: tuple[int, ...] = (0,)
    space: tuple[str, ...] = ()  # --space items
    objective: str = "avg_gap"
    sampler_seed: int = 0
    preset: str | None = None  # the base every trial starts from (a registered preset or a file)
    study: str | None = None
    storage: str | None = None
    jobs: int = 1
    final_seeds: tuple[int, ...] | None = None  # None: FRESH_SEEDS seeds after the trials' seeds
    device: str | None = None
    force: bool = False
    plots: bool = True

    def validate(self) -> None:
        check_trials(self.trials)
        if self.jobs < 1:
            raise InputError(f"--jobs {self.jobs} is not positive", hint="e.g. --jobs 2")
        if not self.seeds or len(set(self.seeds)) != len(self.seeds) or min(self.seeds) < 0:
            raise InputError(f"--seeds {','.join(map(str, self.seeds))} must be distinct seeds ≥ 0", hint="e.g. --seeds 0,1")
        check_objective(self.objective)
        if self.final_seeds is not None and set(self.final_seeds) & set(self.seeds):
            raise InputError("--final-seeds must be seeds no trial used",
                             hint="the best trial is judged on fresh seeds: pick seeds outside --seeds")

    def fresh_seeds(self) -> tuple[int, ...]:
        if self.final_seeds is not None:
            return self.final_seeds
        start = max(self.seeds) + 1
        return tuple(range(start, start + FRESH_SEEDS))

    def resolved_space(self, spec: Any) -> dict[str, Any]:
        """The method's declared space with --space's keys replaced (every bad one at once)."""
        from unlearn_cli.space import TRAINING_KEYS, parse_space, setting_types

        types = setting_types(spec.params)
        if not spec.trains:
            types = {key: tp for key, tp in types.items() if key not in TRAINING_KEYS}
        space = {**spec.space, **parse_space(self.space, types, f"method '{spec.name}'")}
        if not space:
            raise InputError(f"method '{spec.name}' has nothing to tune",
                             hint="tune a method with parameters or training (unlearn ls methods shows each space)")
        return space
