"""Corrective manipulations of the train split (README.md "Forget sets"), made before pretraining.

A manipulation changes what the model trains on — labels, and a trigger on `poisoned`
rows — never the true labels. `known_subset` then picks the part of the manipulated rows
the unlearner is told about (D_f); the rest stays in D_r with its wrong labels on purpose.
The trigger's pixels are the data layer's business; here a row is only marked poisoned.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from unlearn_cli.errors import InputError
from unlearn_cli.forget.base import make_rng, resolve_class, round_half_up
from unlearn_cli.registry import Registry

logger = logging.getLogger(__name__)


@dataclass
class ManipulatedView:
    train_label: np.ndarray  # int64 (N,): the label the model trains with
    poisoned: np.ndarray  # bool (N,): trigger applied
    # bool (N,): rows the manipulation chose (relabelled, triggered, or — labelswap — drawn
    # for the permutation even where it gave a row its own label back)
    manipulated: np.ndarray
    # The settings as applied (class names resolved to indices, defaults filled in), for the
    # manifest; set by `manipulate`.
    options: ManipulationOptions | None = None

    @property
    def manipulated_indices(self) -> np.ndarray:
        return np.flatnonzero(self.manipulated).astype(np.int64)


@dataclass(frozen=True)
class ManipulationOptions:
    """Resolved settings a manipulation may use (only some use each)."""

    size: int
    target: int = 0
    classes: tuple[int, int] | None = None


# (labels, num_classes, options, rng) -> the manipulated view
ApplyFn = Callable[[np.ndarray, int, ManipulationOptions, np.random.Generator], ManipulatedView]


@dataclass(frozen=True)
class ManipulationKind:
    """A registered kind of manipulation: how it changes the training view."""

    name: str
    description: str
    apply: ApplyFn


MANIPULATIONS: Registry[ManipulationKind] = Registry("manipulation")


def _register(name: str, description: str) -> Callable[[ApplyFn], ApplyFn]:
    def decorator(apply: ApplyFn) -> ApplyFn:
        MANIPULATIONS.add(name, ManipulationKind(name, description, apply))
        return apply

    return decorator


@dataclass(frozen=True)
class Manipulation:
    """How a model's training data was manipulated, as its forget set records it: the kind,
    and what the corrective metrics need of it (the poison's target, the interclass pair)."""

    kind: str  # "poison" | "interclass" | "labelswap"
    target: int | None = None  # poison target class
    classes: tuple[int, int] | None = None  # interclass pair

    def __post_init__(self) -> None:
        if self.kind not in MANIPULATIONS:
            raise InputError(
                f"unknown manipulation kind '{self.kind}'",
                hint=f"valid kinds: {', '.join(MANIPULATIONS.names())}",
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

    @classmethod
    def from_config(cls, recorded: dict) -> Manipulation:
        """The manipulation a forget set's manifest records under `config.manipulation`."""
        kind = recorded["kind"]
        classes = recorded.get("classes")
        return cls(kind=kind, target=recorded.get("target") if kind == "poison" else None,
                   classes=tuple(classes) if kind == "interclass" and classes else None)


def manipulate(
    kind: str,
    labels: np.ndarray,
    num_classes: int,
    *,
    size: int,
    seed: int,
    target: int | str = 0,
    classes: tuple[int | str, int | str] | None = None,
    default_classes: tuple[int | str, int | str] | None = None,
    class_names: Sequence[str] | None = None,
) -> ManipulatedView:
    """Apply the manipulation `kind` to the true `labels` of the train split.

    `classes` (interclass) falls back to `default_classes`, which the caller picks per
    dataset (cat/dog (3, 5) on cifar10, maple_tree/orange (47, 53) on cifar100). Classes
    and `target` may be names when `class_names` is given.
    """
    entry = MANIPULATIONS.get(kind)
    labels = np.asarray(labels)
    if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"labels must be a 1-D integer array, got {labels.dtype}{labels.shape}")
    labels = labels.astype(np.int64, copy=False)
    rng = make_rng(seed)
    check_size(size)
    if size > labels.size:
        raise InputError(
            f"--size {size} is larger than the train split ({labels.size} rows)",
            hint=f"give a size of at most {labels.size}",
        )
    names = list(class_names) if class_names is not None else [str(c) for c in range(num_classes)]
    if len(names) != num_classes:
        raise ValueError(f"{len(names)} class names for {num_classes} classes")
    pair = classes if classes is not None else default_classes
    options = ManipulationOptions(
        size=int(size),
        target=_class_index(target, names, "target"),
        classes=None if pair is None else _class_pair(pair, names),
    )
    view = entry.apply(labels, num_classes, options, rng)
    view.options = options
    return view


def _class_index(value: int | str, names: list[str], what: str) -> int:
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool) and value < 0:
        raise InputError(f"{what} class {value} is negative", hint=f"use a class in 0..{len(names) - 1}")
    return resolve_class(value, names, "class")


def _class_pair(pair: tuple[int | str, int | str], names: list[str]) -> tuple[int, int]:
    if len(pair) != 2:
        raise InputError(f"--classes {pair!r} is not two classes", hint="give two classes, e.g. --classes 3,5")
    a, b = (_class_index(c, names, "interclass") for c in pair)
    if a == b:
        raise InputError(f"--classes names the same class twice ({names[a]})", hint="give two different classes")
    return a, b


@_register("poison", "BadNet: N random rows get the target label and a patch of pixel value 255 in every "
           "channel, before normalisation (the corrective repo writes the normalised data's one "
           "global maximum into all channels instead)")
def _poison(
    labels: np.ndarray, num_classes: int, opt: ManipulationOptions, rng: np.random.Generator
) -> ManipulatedView:
    rows = rng.choice(labels.size, size=opt.size, replace=False)
    train_label = labels.copy()
    train_label[rows] = opt.target
    poisoned = np.zeros(labels.size, dtype=bool)
    poisoned[rows] = True
    # Rows already of the target class keep their label but still carry the trigger, so
    # they count as manipulated: the trigger is what the unlearner must remove.
    return ManipulatedView(train_label, poisoned, poisoned.copy())


@_register("interclass", "interclass confusion: the first N/2 rows of each of two classes take the other's label")
def _interclass(
    labels: np.ndarray, num_classes: int, opt: ManipulationOptions, rng: np.random.Generator
) -> ManipulatedView:
    if opt.classes is None:
        raise InputError(
            "interclass confusion needs two classes, and this dataset has no default pair",
            hint="pass --classes A,B",
        )
    if opt.size % 2:
        raise InputError(
            f"--size {opt.size} is odd, but interclass takes N/2 rows from each of two classes",
            hint=f"give an even size, e.g. {opt.size - 1} or {opt.size + 1}",
        )
    half = opt.size // 2
    a, b = opt.classes
    train_label = labels.copy()
    manipulated = np.zeros(labels.size, dtype=bool)
    for source, other in ((a, b), (b, a)):
        rows = np.flatnonzero(labels == source)
        if rows.size < half:
            raise InputError(
                f"--size {opt.size} asks for {half} rows of class {source}, which has only {rows.size}",
                hint=f"give a size of at most {2 * min(np.sum(labels == a), np.sum(labels == b))}",
            )
        # The first rows *by index*, as the corrective paper does: deterministic, no seed.
        chosen = rows[:half]
        train_label[chosen] = other
        manipulated[chosen] = True
    return ManipulatedView(train_label, np.zeros(labels.size, dtype=bool), manipulated)


@_register("labelswap", "N random rows whose labels are randomly permuted among themselves")
def _labelswap(
    labels: np.ndarray, num_classes: int, opt: ManipulationOptions, rng: np.random.Generator
) -> ManipulatedView:
    # The corrective repository's rule (`manip_dataset`, 'randomlabelswap'): draw N rows in
    # random order; the i-th of them in index order takes the label of the i-th drawn. That
    # is a plain random permutation of the drawn labels, not a derangement: a row may keep
    # its own label (about 1/C of them) and still belongs to the manipulated set, as every
    # drawn row does there (its forget set is drawn from all of them).
    drawn = rng.choice(labels.size, size=opt.size, replace=False)
    train_label = labels.copy()
    train_label[np.sort(drawn)] = labels[drawn]
    manipulated = np.zeros(labels.size, dtype=bool)
    manipulated[drawn] = True
    if np.array_equal(train_label, labels):
        logger.warning("labelswap: the permutation of the %d drawn rows changed no label", opt.size)
    return ManipulatedView(train_label, np.zeros(labels.size, dtype=bool), manipulated)


def check_size(size: int, what: str = "--size") -> int:
    """N, how many train rows a manipulation changes: a positive integer. `what` names the
    value in the message (the flag; a grid names its key)."""
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 1:
        raise InputError(f"{what} {size!r} is not a positive integer", hint="give the number of rows to manipulate")
    return int(size)


def check_known_fraction(known: float, what: str = "--known") -> float:
    """F, the fraction of the manipulated rows the unlearner knows: a number with 0 < F ≤ 1."""
    if not (isinstance(known, (int, float, np.integer, np.floating)) and 0.0 < float(known) <= 1.0):
        raise InputError(f"{what} {known!r} is outside (0, 1]",
                         hint="give the known fraction F with 0 < F ≤ 1, e.g. --known 0.5")
    return float(known)


def known_subset(manipulated: np.ndarray, known: float, seed: int) -> np.ndarray:
    """D_f as a bool mask: round(F·|manipulated|) (at least 1) manipulated rows, seeded."""
    mask = np.asarray(manipulated, dtype=bool)
    known = check_known_fraction(known)
    rows = np.flatnonzero(mask)
    if rows.size == 0:
        raise InputError("no train rows are manipulated, so none can be known", hint="manipulate with a size ≥ 1")
    count = max(1, round_half_up(rows.size, float(known)))
    rng = make_rng(seed)
    out = np.zeros(mask.size, dtype=bool)
    out[rng.choice(rows, size=count, replace=False)] = True
    return out
