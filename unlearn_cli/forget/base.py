"""The contract of forget-set kinds: what a kind may look at, how it is registered, and the
checks every selection passes before it becomes a forget set.

A kind is a pure function from a `TrainView` (labels, optional records) to sorted, unique
train-row indices. Reading manifests, loading models and writing files are the
`make-forget-set` step's job, so everything here works on numpy arrays only.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import numpy as np

from unlearn_cli.errors import InputError, UnknownNameError
from unlearn_cli.params import resolve_params as typed_params
from unlearn_cli.registry import Registry


@dataclass(frozen=True)
class DifficultyRecord:
    """Per-sample learning difficulty recorded by `pretrain` (`train/difficulty.py`)."""

    misclassified_fraction: np.ndarray  # float (N,): fraction of epochs misclassified
    mean_loss: np.ndarray  # float (N,): mean training loss over epochs


@dataclass
class TrainView:
    """What a forget-set kind may look at: the train split's labels and optional records."""

    labels: np.ndarray  # int64 (N,) true labels
    num_classes: int
    class_names: list[str]
    # e.g. {"fine_labels": ...} on cifar20, {"coarse_labels": ...} on cifar100
    extra: dict[str, np.ndarray] = field(default_factory=dict)
    extra_names: dict[str, list[str]] = field(default_factory=dict)
    difficulty: DifficultyRecord | None = None  # from pretraining
    # Lazy so that kinds which never rank by confidence never cost a forward pass.
    confidence: Callable[[], np.ndarray] | None = None
    # bool (N,): the rows a manipulation changed, for a model pretrained on one (else None).
    manipulated: np.ndarray | None = None

    def __post_init__(self) -> None:
        # A malformed view is a bug in the caller (the step builds it from a validated
        # dataset), not a user error, hence ValueError rather than a typed error.
        labels = np.asarray(self.labels)
        if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
            raise ValueError(f"TrainView.labels must be a 1-D integer array, got {labels.dtype}{labels.shape}")
        self.labels = labels.astype(np.int64, copy=False)
        if len(self.class_names) != self.num_classes:
            raise ValueError(
                f"TrainView has {len(self.class_names)} class names for {self.num_classes} classes"
            )
        if labels.size and (labels.min() < 0 or labels.max() >= self.num_classes):
            raise ValueError(f"TrainView.labels must lie in [0, {self.num_classes})")
        for key, values in self.extra.items():
            if np.asarray(values).shape != labels.shape:
                raise ValueError(f"TrainView.extra[{key!r}] must have one value per train row")

    @property
    def n(self) -> int:
        """Number of train rows."""
        return int(self.labels.shape[0])


# (view, params, seed) -> sorted unique int64 row indices
SelectFn = Callable[[TrainView, Any, int], np.ndarray]


@dataclass(frozen=True)
class ForgetKind:
    """A registered way of choosing D_f from the train split."""

    name: str
    description: str
    params: type  # a frozen dataclass of the kind's parameters (typed, with defaults)
    select: SelectFn
    needs_model: bool = False  # True for kinds that may need a difficulty record / confidence
    # For kinds where only some parameter values need the model (per 101/110 do, per 1/10
    # do not): lets the step skip loading a model it would not use.
    model_needed: Callable[[Any], bool] | None = None

    def requires_model(self, params: Any) -> bool:
        """Whether selecting with these (resolved) parameters needs the pretrained model."""
        if self.model_needed is not None:
            return self.model_needed(params)
        return self.needs_model


FORGET_KINDS: Registry[ForgetKind] = Registry("forget-set kind")


def forget_kind(
    name: str,
    description: str,
    params: type,
    *,
    needs_model: bool = False,
    model_needed: Callable[[Any], bool] | None = None,
) -> Callable[[SelectFn], SelectFn]:
    """Decorator: register a select function as the forget-set kind `name`."""
    if not (dataclasses.is_dataclass(params) and params.__dataclass_params__.frozen):  # type: ignore[attr-defined]
        raise TypeError(f"forget-set kind '{name}': params must be a frozen dataclass")

    def decorator(select: SelectFn) -> SelectFn:
        FORGET_KINDS.add(name, ForgetKind(name, description, params, select, needs_model, model_needed))
        return select

    return decorator


# ---------------------------------------------------------------------------------------
# Parameters: a kind's dataclass, built from defaults, an instance, or a mapping of values
# (the CLI passes strings), by the one typed parser every registry with parameters shares.


def resolve_params(kind: ForgetKind, params: Any = None) -> Any:
    """An instance of `kind.params` from None (defaults), an instance, or a mapping whose
    values are coerced to the annotated field types (`unlearn_cli.params`); every unknown key
    and bad value is reported at once. Value checks live in each params class's
    `__post_init__`, so they run here too."""
    if isinstance(params, kind.params):
        return params
    if params is not None and not isinstance(params, Mapping):
        raise TypeError(f"params for forget-set kind '{kind.name}' must be {kind.params.__name__} or a mapping")
    return typed_params(kind.params, params, f"forget-set kind '{kind.name}'")


# ---------------------------------------------------------------------------------------
# Shared selection helpers.


def selection_tag(kind: str, params: dict[str, Any]) -> str:
    """A short, readable name part for a selection, e.g. per110, frac0.2, class-rocket: the
    default forget-set names of `make-forget-set` and of a sweep's nodes are built from it."""
    if kind == "per":
        return f"per{params['per']}" + ("-conf" if params.get("difficulty") == "confidence" else "")
    if kind == "fraction":
        return f"frac{float(params['fraction']):g}" + ("" if params.get("balance", True) else "-unbalanced")
    if kind == "indices":
        return f"indices-{Path(str(params['path'])).stem}"
    if kind == "known":
        return f"known{float(params['fraction']):g}"
    return f"{kind}-" + "-".join(str(v) for v in params.values())


def round_half_up(count: int, fraction: float | Decimal) -> int:
    """round(count·fraction) with halves rounded up, computed in decimal.

    Python's round() rounds halves to even and binary floats turn 0.15 into 0.1499…, so
    either would make `--fraction 0.15` of 10 rows pick 1 row instead of the 2 a reader
    expects. The float's shortest repr is the value the user typed.
    """
    exact = Decimal(count) * (fraction if isinstance(fraction, Decimal) else Decimal(repr(float(fraction))))
    return int(exact.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def make_rng(seed: int) -> np.random.Generator:
    """The one seeded generator a selection draws from (numpy rejects negative seeds)."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise InputError(f"seed {seed!r} is not a non-negative integer", hint="pass --seed 0 or another integer ≥ 0")
    return np.random.default_rng(int(seed))


def class_balanced_sample(
    labels: np.ndarray, num_classes: int, fraction: float | Decimal, rng: np.random.Generator
) -> np.ndarray:
    """From each class c, round(n_c·fraction) rows (halves up) drawn without replacement.

    This is `--fraction`'s rule: each class gives its own share. (`--per 1|10` follows
    NatMU instead, the same count for every class; see `kinds.natmu_per_class_count`.)
    Classes are visited in index order so the same seed always gives the same set.
    """
    chosen: list[np.ndarray] = []
    for c in range(num_classes):
        rows = np.flatnonzero(labels == c)
        k = round_half_up(rows.size, fraction)
        if k:
            chosen.append(rng.choice(rows, size=k, replace=False))
    if not chosen:
        return np.empty(0, dtype=np.int64)
    return np.sort(np.concatenate(chosen)).astype(np.int64)


def resolve_class(value: str | int, names: Sequence[str], what: str = "class") -> int:
    """A class given by index (an int or a string of ASCII digits) or by name → its index.

    Names match exactly first, then case-insensitively (`--class Rocket`). Unknown names
    raise UnknownNameError listing every valid name.
    """
    if isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_)):
        text = str(int(value))
    else:
        text = str(value).strip()
    # Only ASCII digits make an index: str.isdigit() also accepts '³' (which int() rejects)
    # and '٣' or '３' (which int() reads as 3), so `--class ³` would crash and `--class ٣`
    # would silently pick class 3. Anything else is a name.
    if text.isascii() and text.isdigit():
        index = int(text)
        if index >= len(names):
            raise InputError(
                f"{what} index {index} is out of range: there are {len(names)} {what}es",
                hint=f"use an index in 0..{len(names) - 1} or a name",
            )
        return index
    if text in names:
        return list(names).index(text)
    folded = [i for i, name in enumerate(names) if name.lower() == text.lower()]
    if len(folded) == 1:
        return folded[0]
    raise UnknownNameError(f"unknown {what} '{text}'", hint=f"valid {what} names: {', '.join(names)}")


def finalize_selection(indices: np.ndarray, n_rows: int, kind: str) -> np.ndarray:
    """Check a kind's selection and return it as sorted unique int64 indices.

    D_f must be non-empty (nothing to unlearn otherwise) and must leave D_r non-empty
    (every method trains or measures on the retain set).
    """
    out = np.unique(np.asarray(indices, dtype=np.int64))
    if out.size and (out[0] < 0 or out[-1] >= n_rows):
        raise ValueError(f"forget-set kind '{kind}' selected rows outside 0..{n_rows - 1}")
    if out.size == 0:
        raise InputError(
            f"forget-set kind '{kind}' selected no train rows",
            hint="the train split is too small for this size; choose a larger fraction",
        )
    if out.size == n_rows:
        raise InputError(
            f"forget-set kind '{kind}' selected all {n_rows} train rows, which leaves no retain set",
            hint="choose a smaller forget set",
        )
    return out


def make_forget_indices(kind: str, view: TrainView, params: Any = None, seed: int = 0) -> np.ndarray:
    """Select D_f with the registered kind `kind`: sorted unique int64 train-row indices.

    `params` is the kind's params dataclass, a mapping of its fields, or None for defaults.
    """
    entry = FORGET_KINDS.get(kind)
    resolved = resolve_params(entry, params)
    make_rng(seed)  # validate before any work
    return finalize_selection(entry.select(view, resolved, int(seed)), view.n, kind)
