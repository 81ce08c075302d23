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
NOT_REQUEST = frozenset({"force", "resume", "device", "name"})


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

    def validate(self) -> None:
        from unlearn_cli.models import MODELS

        check_width(self.width)
        if not (math.isfinite(self.val_fraction) and 0.0 <= self.val_fraction < 1.0):
            raise InputError(f"--val-fraction {self.val_fraction} is outside [0, 1)",
                             hint="hold out a small share, e.g. --val-fraction 0.05")
        MODELS.get(self.model)
        # The recipe's fields with this run's overrides: epochs/steps, lr, batch, normalisation.
        self.recipe_for(self.dataset or DEFAULT_DATASET)

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

    def validate(self) -> None:
        self.resolve()

    def resolve(self) -> MethodChoice:
        """The method, its preset entry and its parameters; a method that does not train
        refuses the training options it would otherwise silently ignore."""
        from unlearn_cli.methods import METHODS
        from unlearn_cli.methods.presets import preset_for
        from unlearn_cli.params import resolve_params

        spec = METHODS.get(self.method)
        self.generic.check()
        preset = preset_for(self.preset, spec.name) if self.preset else None
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

    def validate(self) -> None:
        return None
