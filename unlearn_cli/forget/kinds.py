"""The forget-set kinds (README.md "Forget sets"): random per-class percentages, the hardest
samples, random fractions, a whole class, a sub-class, and imported index files."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Literal

import numpy as np

from unlearn_cli.errors import ArtifactError, InputError
from unlearn_cli.forget.base import (
    TrainView,
    class_balanced_sample,
    forget_kind,
    make_rng,
    resolve_class,
    round_half_up,
)
from unlearn_cli.forget.index_files import load_indices
from unlearn_cli.forget.manipulations import check_known_fraction, known_subset

logger = logging.getLogger(__name__)

# NatMU's `forget_per` codes: 1/10 random, 101/110 the hardest 1 %/10 %.
RANDOM_PERS = (1, 10)
HARDEST_PERS = (101, 110)
VALID_PERS = RANDOM_PERS + HARDEST_PERS


# --------------------------------------------------------------------------------- per


@dataclass(frozen=True)
class PerParams:
    per: int = 10
    difficulty: Literal["record", "confidence"] = "record"

    def __post_init__(self) -> None:
        if self.per not in VALID_PERS:
            raise InputError(
                f"--per {self.per} is not a valid value",
                hint=f"valid values: {', '.join(map(str, VALID_PERS))} "
                "(1/10: random %, class-balanced; 101/110: hardest 1 %/10 %)",
            )


@forget_kind(
    "per",
    "NatMU's sets: per 1/10 = random 1 %/10 %, int(N/100/C·per) rows from every class; "
    "101/110 = the hardest 1 %/10 % overall",
    PerParams,
    needs_model=True,
    model_needed=lambda p: p.per in HARDEST_PERS,
)
def select_per(view: TrainView, params: PerParams, seed: int) -> np.ndarray:
    if params.per in RANDOM_PERS:
        if params.difficulty != "record":
            logger.warning("--difficulty %s is ignored for the random set --per %d", params.difficulty, params.per)
        return natmu_balanced_sample(view.labels, view.num_classes, params.per, seed)
    rng = make_rng(seed)
    percent = params.per - 100
    count = round_half_up(view.n, Decimal(percent) / 100)
    ranking = hardness_ranking(view, params.difficulty, rng)
    # Taking a prefix of one ranking is what makes the 1 % set a subset of the 10 % set.
    return np.sort(ranking[:count])


def natmu_per_class_count(n_rows: int, num_classes: int, per: int) -> int:
    """NatMU's `generate_idx` count: int(N/100/C·per) rows from every class.

    Computed in floats in the reference's own order (`int(num_total_samples /100
    /num_classes*forget_percent)`), so the count agrees with it even where the float
    product lands just below an integer. The count is the same for every class, whatever
    its size: an unbalanced split gives an unbalanced share of each class.
    """
    return int(n_rows / 100 / num_classes * per)


def natmu_balanced_sample(labels: np.ndarray, num_classes: int, per: int, seed: int) -> np.ndarray:
    """NatMU's random `--per 1|10` set: from each class, natmu_per_class_count rows.

    NatMU's `generate_idx` (sample-wise/utils/data.py:155-175) with numpy seeded by `seed`:
    classes in index order, each class's rows shuffled in place by numpy's legacy generator
    and the first `count` taken (a class with fewer rows than `count` gives all of them). So
    `--seed S` draws the rows NatMU draws after `np.random.seed(S)`.
    """
    count = natmu_per_class_count(labels.size, num_classes, per)
    rng = np.random.RandomState(seed)
    chosen = []
    for c in range(num_classes):
        rows = np.nonzero(labels == c)[0]
        rng.shuffle(rows)
        chosen.append(rows[:count])
    if not chosen:
        return np.empty(0, dtype=np.int64)
    return np.sort(np.concatenate(chosen)).astype(np.int64)


def hardness_ranking(view: TrainView, difficulty: str, rng: np.random.Generator) -> np.ndarray:
    """Every train row, hardest first.

    "record": misclassified fraction desc, then mean loss desc; "confidence": the model's
    true-class probability asc. Remaining ties are broken by a seeded random permutation so
    that equal rows are not picked by index order (which would favour low indices).
    """
    tiebreak = rng.permutation(view.n)
    if difficulty == "record":
        record = view.difficulty
        if record is None:
            raise InputError(
                "--per 101/110 ranks by the difficulty record, but this model has none",
                hint="pretrain records difficulty; or pass --difficulty confidence",
            )
        miscls = _checked_scores(record.misclassified_fraction, view.n, "misclassified fraction")
        loss = _checked_scores(record.mean_loss, view.n, "mean loss")
        # lexsort sorts by the last key first; negate for descending order.
        return np.lexsort((tiebreak, -loss, -miscls)).astype(np.int64)
    if view.confidence is None:
        raise InputError(
            "--difficulty confidence needs the pretrained model's predictions on the train split",
            hint="pass the model the forget set is made for",
        )
    confidence = _checked_scores(view.confidence(), view.n, "true-class confidence")
    return np.lexsort((tiebreak, confidence)).astype(np.int64)


def _checked_scores(values: np.ndarray, n: int, what: str) -> np.ndarray:
    scores = np.asarray(values, dtype=np.float64)
    if scores.shape != (n,):
        raise ArtifactError(
            f"the {what} has shape {scores.shape}, but the train split has {n} rows",
            hint="the difficulty record belongs to another dataset; re-run pretrain on this one",
        )
    if not np.all(np.isfinite(scores)):
        bad = np.flatnonzero(~np.isfinite(scores))[:5].tolist()
        raise ArtifactError(
            f"the {what} has non-finite values at rows {bad}",
            hint="the pretraining run diverged; re-run pretrain",
        )
    return scores


# ---------------------------------------------------------------------------- fraction


@dataclass(frozen=True)
class FractionParams:
    fraction: float = 0.1
    balance: bool = True

    def __post_init__(self) -> None:
        if not (math.isfinite(self.fraction) and 0.0 < self.fraction < 1.0):
            raise InputError(
                f"--fraction {self.fraction} is outside (0, 1)",
                hint="give a fraction strictly between 0 and 1, e.g. 0.1",
            )


@forget_kind(
    "fraction",
    "a random fraction of the train split, class-balanced unless balance=false",
    FractionParams,
)
def select_fraction(view: TrainView, params: FractionParams, seed: int) -> np.ndarray:
    rng = make_rng(seed)
    if params.balance:
        return class_balanced_sample(view.labels, view.num_classes, params.fraction, rng)
    count = round_half_up(view.n, params.fraction)
    return np.sort(rng.choice(view.n, size=count, replace=False)).astype(np.int64)


# ------------------------------------------------------------------------------- class


@dataclass(frozen=True)
class ClassParams:
    target: str  # a class name, or its index as a string of digits


@forget_kind("class", "every train row of one class, by name or index", ClassParams)
def select_class(view: TrainView, params: ClassParams, seed: int) -> np.ndarray:
    c = resolve_class(params.target, view.class_names, "class")
    rows = np.flatnonzero(view.labels == c).astype(np.int64)
    if rows.size == 0:
        raise InputError(
            f"class '{view.class_names[c]}' ({c}) has no train rows",
            hint="choose a class present in the train split",
        )
    return rows


# ---------------------------------------------------------------------------- subclass

FINE_KEY = "fine_labels"


@dataclass(frozen=True)
class SubclassParams:
    name: str  # a fine class name (or its index) inside a superclass dataset


@forget_kind(
    "subclass",
    "every train row of one fine class on a superclass dataset (cifar20); labels stay coarse",
    SubclassParams,
)
def select_subclass(view: TrainView, params: SubclassParams, seed: int) -> np.ndarray:
    if FINE_KEY not in view.extra or FINE_KEY not in view.extra_names:
        raise InputError(
            "subclass needs a dataset with superclasses, e.g. cifar20",
            hint="prepare cifar20, or use --class on a dataset with fine labels",
        )
    fine = np.asarray(view.extra[FINE_KEY])
    f = resolve_class(params.name, view.extra_names[FINE_KEY], "subclass")
    rows = np.flatnonzero(fine == f).astype(np.int64)
    if rows.size == 0:
        raise InputError(
            f"subclass '{view.extra_names[FINE_KEY][f]}' ({f}) has no train rows",
            hint="choose a subclass present in the train split",
        )
    return rows


# ----------------------------------------------------------------------------- indices


@dataclass(frozen=True)
class IndicesParams:
    path: Path  # .npy, .txt, .csv, .json or .parquet list of train rows


@forget_kind(
    "indices",
    "an imported list of train rows (npy, txt, csv, json, parquet), e.g. a published forget set",
    IndicesParams,
)
def select_indices(view: TrainView, params: IndicesParams, seed: int) -> np.ndarray:
    return load_indices(params.path, view.n)


# ------------------------------------------------------------------------------- known


@dataclass(frozen=True)
class KnownParams:
    fraction: float = 1.0  # of the manipulated rows, 0 < F ≤ 1

    def __post_init__(self) -> None:
        check_known_fraction(self.fraction)  # before any model is loaded


@forget_kind(
    "known",
    "corrective setting, from a model pretrained on a manipulation: a seeded fraction F of the "
    "rows it manipulated (one pretrained model serves every known fraction, as in the paper)",
    KnownParams,
    needs_model=True,
)
def select_known(view: TrainView, params: KnownParams, seed: int) -> np.ndarray:
    if view.manipulated is None:
        raise InputError("--known picks from the rows a manipulation changed, but this model was not "
                         "pretrained on a manipulation",
                         hint="pretrain with --manipulation <make-forget-set --dataset D --manipulation …>")
    return np.flatnonzero(known_subset(view.manipulated, params.fraction, seed)).astype(np.int64)
