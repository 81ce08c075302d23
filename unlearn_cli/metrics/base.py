"""The evaluation context that metrics read, the metric registry, and `compute_metrics`.

The evaluation step runs each model once, in eval mode on un-augmented images, and fills
an `EvalContext` with plain numpy arrays. Metrics are pure functions of that context, so
they are cheap to test with hand-made logits and never touch torch.

A metric is a *group*: one registered name whose compute function may yield several
values (`accuracy` yields FA, RA, TA, UA). `compute_metrics` accepts either a group name
(all its values) or a single value name (`kl_forget`: just that value of its group).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from unlearn_cli.errors import InputError, UnknownNameError
from unlearn_cli.registry import Registry

MANIPULATION_KINDS = ("poison", "interclass", "labelswap")

# Cached per-sample quantities that `Outputs.subset` can slice instead of recomputing.
_PER_SAMPLE_CACHES = ("log_probs", "probs", "predictions", "loss", "true_prob", "entropy")


@dataclass(eq=False)
class Outputs:
    """Per-sample outputs of one model on one split, un-augmented, eval mode.

    The arrays are treated as read-only: derived quantities are computed once on first use
    and cached, so mutating `logits` afterwards would leave the caches stale.
    """

    logits: np.ndarray  # float (N, C)
    labels: np.ndarray  # int64 (N,): the labels to score against

    def __post_init__(self) -> None:
        self.logits = np.asarray(self.logits)
        self.labels = np.asarray(self.labels)
        if self.logits.ndim != 2:
            raise InputError(
                f"logits must be a 2-D (samples, classes) array, got shape {self.logits.shape}",
                hint="pass the model's raw outputs, one row per sample",
            )
        if not np.issubdtype(self.logits.dtype, np.floating):
            raise InputError(
                f"logits must be floating point, got dtype {self.logits.dtype}",
                hint="pass the model's raw (pre-softmax) outputs",
            )
        if self.labels.shape != (self.logits.shape[0],):
            raise InputError(
                f"labels have shape {self.labels.shape} but logits have "
                f"{self.logits.shape[0]} rows",
                hint="pass one integer label per logits row",
            )
        if not np.issubdtype(self.labels.dtype, np.integer):
            raise InputError(
                f"labels must be integers, got dtype {self.labels.dtype}",
                hint="pass class indices, not one-hot vectors or floats",
            )
        self.labels = self.labels.astype(np.int64, copy=False)
        n_classes = self.logits.shape[1]
        if self.labels.size and (self.labels.min() < 0 or self.labels.max() >= n_classes):
            raise InputError(
                f"labels must lie in 0..{n_classes - 1} for {n_classes} logits columns, "
                f"got {self.labels.min()}..{self.labels.max()}",
                hint="the labels and the model's classes do not match",
            )
        bad = int(np.count_nonzero(~np.isfinite(self.logits).all(axis=1)))
        if bad:
            # A diverged model (e.g. gradient ascent run too long) is the usual cause; its
            # metrics would be meaningless and the MIA fits would fail on NaN features.
            raise InputError(
                f"{bad} of {len(self)} samples have NaN or infinite logits",
                hint="the model diverged; re-run the method with a smaller learning rate "
                "or fewer epochs",
            )

    def __len__(self) -> int:
        return int(self.logits.shape[0])

    @property
    def num_classes(self) -> int:
        return int(self.logits.shape[1])

    @cached_property
    def log_probs(self) -> np.ndarray:
        """Log-softmax in float64, shifted by the row max so large logits cannot overflow."""
        z = self.logits.astype(np.float64)
        z = z - z.max(axis=1, keepdims=True)
        return z - np.log(np.exp(z).sum(axis=1, keepdims=True))

    @cached_property
    def probs(self) -> np.ndarray:
        return np.exp(self.log_probs)

    @cached_property
    def predictions(self) -> np.ndarray:
        return self.logits.argmax(axis=1).astype(np.int64)

    @cached_property
    def loss(self) -> np.ndarray:
        """Per-sample cross-entropy against `labels` (natural log)."""
        return -self.log_probs[np.arange(len(self)), self.labels]

    @cached_property
    def true_prob(self) -> np.ndarray:
        """Softmax probability of `labels`."""
        return self.probs[np.arange(len(self)), self.labels]

    @cached_property
    def entropy(self) -> np.ndarray:
        """Entropy of the softmax (natural log). log_probs is finite for finite logits, so
        a probability that underflows to 0 contributes 0·finite = 0, as it should."""
        return -(self.probs * self.log_probs).sum(axis=1)

    def subset(self, mask_or_indices: np.ndarray | Sequence[int]) -> Outputs:
        """The rows selected by a boolean mask (length N) or by integer indices."""
        sel = np.asarray(mask_or_indices)
        if sel.dtype == bool:
            if sel.shape != (len(self),):
                raise InputError(
                    f"boolean mask has shape {sel.shape}, expected ({len(self)},)",
                    hint="a mask needs one entry per sample",
                )
        elif sel.size == 0:
            sel = sel.astype(np.int64)
        elif not np.issubdtype(sel.dtype, np.integer):
            raise InputError(
                f"subset needs a boolean mask or integer indices, got dtype {sel.dtype}",
                hint="pass a bool array or row numbers",
            )
        out = Outputs(self.logits[sel], self.labels[sel])
        # Reuse whatever this object has already computed: slicing is far cheaper than a
        # second softmax over the full split.
        for name in _PER_SAMPLE_CACHES:
            if name in self.__dict__:
                out.__dict__[name] = self.__dict__[name][sel]
        return out


@dataclass(frozen=True)
class Manipulation:
    """How the training data was manipulated (corrective setting, SPEC §4.2)."""

    kind: str  # "poison" | "interclass" | "labelswap"
    target: int | None = None  # poison target class
    classes: tuple[int, int] | None = None  # interclass pair

    def __post_init__(self) -> None:
        if self.kind not in MANIPULATION_KINDS:
            raise InputError(
                f"unknown manipulation kind '{self.kind}'",
                hint=f"valid kinds: {', '.join(MANIPULATION_KINDS)}",
            )
        if self.kind == "poison" and self.target is None:
            raise InputError(
                "a poison manipulation needs its target class",
                hint="set Manipulation.target (the label the trigger maps to)",
            )
        if self.kind == "interclass":
            if self.classes is None or len(self.classes) != 2 or self.classes[0] == self.classes[1]:
                raise InputError(
                    f"an interclass manipulation needs two distinct classes, got {self.classes}",
                    hint="set Manipulation.classes, e.g. (3, 5)",
                )
            # A list read back from a JSON manifest would make the frozen object unhashable.
            object.__setattr__(self, "classes", (int(self.classes[0]), int(self.classes[1])))


@dataclass(eq=False)
class EvalContext:
    """Everything the metrics need about one evaluated run (and optionally its reference)."""

    train: Outputs  # every train row; labels = train_label (the labels it was trained with)
    true_train_labels: np.ndarray  # int64 (N_train,) the true labels
    forget: np.ndarray  # bool (N_train,) D_f; D_r = ~forget
    manipulated: np.ndarray  # bool (N_train,) rows whose label or pixels were manipulated
    test: Outputs  # clean test images, true labels
    test_triggered: Outputs | None  # every test image with the trigger, true labels (poison)
    num_classes: int
    # bool (N_test,): the "forget test" rows of class-wise forgetting (the forgotten class's
    # or sub-class's test images, as NatMU splits them). TA is then measured on the other
    # test rows and TA_forget on these; None for sample-wise and corrective runs.
    forget_test: np.ndarray | None = None
    manipulation: Manipulation | None = None
    seed: int = 0
    wall_seconds: float | None = None
    reference: EvalContext | None = None  # the retrain run on the same forget set, if given
    # Values that several metrics share (mia_entropy feeds avg_gap), computed once per
    # context through `memo`.
    _memo: dict[str, float] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        n = len(self.train)
        self.true_train_labels = np.asarray(self.true_train_labels)
        self.forget = np.asarray(self.forget)
        self.manipulated = np.asarray(self.manipulated)
        if self.true_train_labels.shape != (n,):
            raise InputError(
                f"true_train_labels has shape {self.true_train_labels.shape}, expected ({n},)",
                hint="pass one true label per train row",
            )
        self.true_train_labels = self.true_train_labels.astype(np.int64, copy=False)
        for name in ("forget", "manipulated"):
            mask = getattr(self, name)
            # Integer row lists would silently turn into a wrong mask under astype(bool).
            if mask.dtype != bool or mask.shape != (n,):
                raise InputError(
                    f"{name} must be a boolean mask of shape ({n},), got dtype {mask.dtype} "
                    f"shape {mask.shape}",
                    hint="pass the forget set's boolean column, one entry per train row",
                )
        for split, out in (("train", self.train), ("test", self.test),
                           ("test_triggered", self.test_triggered)):
            if out is not None and out.num_classes != self.num_classes:
                raise InputError(
                    f"{split} logits have {out.num_classes} classes, expected {self.num_classes}",
                    hint="evaluate the model on the dataset it was trained for",
                )
        if len(self.test) == 0:
            raise InputError("the test split is empty", hint="check the prepared dataset")
        if not self.forget.any():
            # An empty D_f means the forget-set artifact or its loading went wrong; every
            # forget metric would be undefined.
            raise InputError(
                "the forget set D_f is empty",
                hint="check the forget-set manifest: no train row is marked 'forget'",
            )
        if self.forget.all():
            raise InputError(
                "the forget set covers every train row, so the retain set D_r is empty",
                hint="make a forget set smaller than the train split",
            )
        if self.forget_test is not None:
            self._check_forget_test()
        if self.manipulation is not None:
            self._check_manipulation(self.manipulation)
        if self.reference is not None:
            self._check_reference(self.reference)

    def _check_forget_test(self) -> None:
        self.forget_test = np.asarray(self.forget_test)
        n = len(self.test)
        # Integer row lists would silently turn into a wrong mask under astype(bool).
        if self.forget_test.dtype != bool or self.forget_test.shape != (n,):
            raise InputError(
                f"forget_test must be a boolean mask of shape ({n},), got dtype "
                f"{self.forget_test.dtype} shape {self.forget_test.shape}",
                hint="mark the forgotten class's test images, one entry per test row",
            )
        if self.forget_test.all():
            raise InputError(
                "every test image belongs to the forgotten class, so TA is undefined",
                hint="class-wise forgetting needs test images of other classes",
            )

    def _check_manipulation(self, m: Manipulation) -> None:
        named = [m.target] if m.kind == "poison" else list(m.classes or ())
        for c in named:
            if c is not None and not 0 <= c < self.num_classes:
                raise InputError(
                    f"{m.kind} manipulation names class {c}, outside 0..{self.num_classes - 1}",
                    hint="check the forget-set manifest's manipulation settings",
                )
        if m.kind == "poison":
            if self.test_triggered is None:
                raise InputError(
                    "a poison manipulation needs the triggered test set for acc_corr and "
                    "attack_success",
                    hint="evaluate every test image with the trigger applied too",
                )
            if not np.array_equal(self.test_triggered.labels, self.test.labels):
                raise InputError(
                    "the triggered test set's labels differ from the clean test set's",
                    hint="score triggered images against their true labels",
                )

    def _check_reference(self, ref: EvalContext) -> None:
        # The gap metrics compare like with like: same forget rows, same test images.
        if len(ref.train) != len(self.train) or not np.array_equal(ref.forget, self.forget):
            raise InputError(
                "the reference run was evaluated on a different forget set",
                hint="pass a retrain run made from the same forget set",
            )
        if len(ref.test) != len(self.test) or not np.array_equal(ref.test.labels,
                                                                 self.test.labels):
            raise InputError(
                "the reference run was evaluated on a different test set",
                hint="pass a retrain run on the same dataset",
            )
        if (ref.forget_test is None) != (self.forget_test is None) or (
            ref.forget_test is not None
            and not np.array_equal(ref.forget_test, self.forget_test)
        ):
            raise InputError(
                "the reference run splits the test set into another forget test set",
                hint="pass a retrain run made from the same forget set",
            )
        if ref.num_classes != self.num_classes:
            raise InputError(
                f"the reference model has {ref.num_classes} classes, this one "
                f"{self.num_classes}",
                hint="pass a retrain run on the same dataset",
            )

    @property
    def retain(self) -> np.ndarray:
        """Boolean mask of D_r, the complement of D_f."""
        return ~self.forget

    @cached_property
    def forget_outputs(self) -> Outputs:
        """Outputs on D_f, scored against the train labels."""
        return self.train.subset(self.forget)

    @cached_property
    def retain_outputs(self) -> Outputs:
        """Outputs on D_r, scored against the train labels."""
        return self.train.subset(self.retain)

    @cached_property
    def test_rest_outputs(self) -> Outputs:
        """The test rows TA is measured on: all of them, or in class-wise forgetting those
        outside the forget test set."""
        return self.test if self.forget_test is None else self.test.subset(~self.forget_test)

    @cached_property
    def forget_test_outputs(self) -> Outputs | None:
        """The forget test rows (class-wise forgetting), else None."""
        return None if self.forget_test is None else self.test.subset(self.forget_test)

    def memo(self, key: str, compute: Callable[[], float]) -> float:
        """`compute()` on first call for `key`, the stored value afterwards."""
        if key not in self._memo:
            self._memo[key] = compute()
        return self._memo[key]


Compute = Callable[[EvalContext], dict[str, float]]


def _always(ctx: EvalContext) -> bool:
    return True


@dataclass(frozen=True)
class Metric:
    """A registered metric group.

    `keys` lists every value name the group can yield (a run may yield fewer: the
    corrective group yields `attack_success` only for poison). `requires` says, for a user,
    what a run needs for `applies` to be true.
    """

    name: str
    description: str  # one line, states the direction (what is better / what it means)
    applies: Callable[[EvalContext], bool]
    compute: Compute
    keys: tuple[str, ...] = field(default=())
    requires: str | None = None


METRICS: Registry[Metric] = Registry("metric")


def register_metric(
    name: str,
    *,
    description: str,
    keys: Sequence[str] | None = None,
    applies: Callable[[EvalContext], bool] = _always,
    requires: str | None = None,
) -> Callable[[Compute], Compute]:
    """Register a compute function as metric `name`. `keys` defaults to `(name,)`."""

    def decorator(fn: Compute) -> Compute:
        value_keys = tuple(keys) if keys is not None else (name,)
        for key in value_keys:
            owner = _owner_of_key(key)
            if owner is not None and owner.name != name:
                raise ValueError(f"metric value '{key}' is already yielded by '{owner.name}'")
        METRICS.add(
            name,
            Metric(name=name, description=description, applies=applies, compute=fn,
                   keys=value_keys, requires=requires),
        )
        return fn

    return decorator


def _owner_of_key(key: str) -> Metric | None:
    for _, metric in METRICS.items():
        if key in metric.keys:
            return metric
    return None


def value_names() -> list[str]:
    """Every value name any registered metric can yield, in registry order."""
    return [key for _, metric in METRICS.items() for key in metric.keys]


def _resolve(names: Sequence[str]) -> dict[str, set[str] | None]:
    """Map requested names to {group: wanted keys (None = all)}; unknown names raise."""
    wanted: dict[str, set[str] | None] = {}
    unknown: list[str] = []
    for name in names:
        if name in METRICS:
            wanted[name] = None
            continue
        owner = _owner_of_key(name)
        if owner is None:
            unknown.append(name)
            continue
        keys = wanted.get(owner.name, set())
        if keys is not None:  # None: the whole group is already asked for
            keys.add(name)
            wanted[owner.name] = keys
    if unknown:
        raise UnknownNameError(
            f"unknown metric{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))}",
            hint=f"valid metrics: {', '.join(METRICS.names())}; "
            f"single values: {', '.join(value_names())}",
        )
    return wanted


def check_metric_names(names: Sequence[str]) -> None:
    """Raise UnknownNameError for any name that is neither a metric nor a value name, so a
    typo in --metrics fails before any model is run."""
    _resolve(names)


def compute_metrics(ctx: EvalContext, names: Sequence[str] | None = None) -> dict[str, float]:
    """Compute metrics on `ctx`; values are python floats in registry order.

    `names=None` computes every metric that applies to the run. Otherwise each name is a
    metric group (all its values) or one value name (`kl_forget`, `FA`); a named metric
    that does not apply raises InputError saying what the run lacks.
    """
    if names is None:
        selected: dict[str, set[str] | None] = {
            name: None for name, metric in METRICS.items() if metric.applies(ctx)
        }
    else:
        selected = _resolve(names)
        missing = [name for name in selected if not METRICS.get(name).applies(ctx)]
        if missing:
            reasons = "; ".join(
                f"'{name}' needs {METRICS.get(name).requires or 'a different run'}"
                for name in missing
            )
            raise InputError(
                f"metric{'s' if len(missing) > 1 else ''} not applicable to this run: {reasons}",
                hint="drop them from --metrics or provide what they need",
            )

    results: dict[str, float] = {}
    for name, metric in METRICS.items():  # registry order, whatever order was asked
        if name not in selected:
            continue
        values = metric.compute(ctx)
        extra = set(values) - set(metric.keys)
        if extra:
            raise ValueError(f"metric '{name}' yielded undeclared values {sorted(extra)}")
        keys = selected[name]
        if keys is not None:
            absent = keys - set(values)
            if absent:
                raise InputError(
                    f"{', '.join(sorted(absent))} is not computed for this run "
                    f"(metric '{name}' yields {', '.join(values)} here)",
                    hint="ask only for values this kind of run has",
                )
            values = {k: v for k, v in values.items() if k in keys}
        results.update({k: float(v) for k, v in values.items()})
    return results
