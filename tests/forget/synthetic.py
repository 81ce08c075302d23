"""Tiny synthetic train views and per-kind examples for the forget-set tests."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from unlearn_cli.forget import DifficultyRecord, TrainView, write_index_file

NUM_CLASSES = 10
PER_CLASS = 30
N = NUM_CLASSES * PER_CLASS
CLASS_NAMES = [f"class{c}" for c in range(NUM_CLASSES)]


def make_view(*, with_record: bool = True, with_confidence: bool = True) -> TrainView:
    """10 classes × 30 rows in shuffled order, with a difficulty record full of ties."""
    rng = np.random.default_rng(123)
    labels = rng.permutation(np.repeat(np.arange(NUM_CLASSES), PER_CLASS)).astype(np.int64)
    # Only 5 distinct misclassified fractions, so the loss tie-break matters; losses are
    # tied in pairs so the seeded random tie-break matters too.
    miscls = rng.integers(0, 5, size=N) / 4
    loss = np.repeat(rng.permutation(N // 2), 2)[rng.permutation(N)].astype(np.float64)
    confidence = rng.random(N)
    return TrainView(
        labels=labels,
        num_classes=NUM_CLASSES,
        class_names=list(CLASS_NAMES),
        difficulty=DifficultyRecord(miscls, loss) if with_record else None,
        confidence=(lambda: confidence) if with_confidence else None,
    )


FINE_NAMES = ["rocket", "bus", "oak", "maple", "bee", "ant", "sea", "lake"]
COARSE_NAMES = ["vehicles", "trees", "insects", "water"]


def make_fine_view() -> TrainView:
    """cifar20-like: 4 coarse classes, 8 fine classes (fine f inside coarse f // 2)."""
    rng = np.random.default_rng(7)
    fine = rng.permutation(np.repeat(np.arange(8), 20)).astype(np.int64)
    return TrainView(
        labels=fine // 2,
        num_classes=4,
        class_names=list(COARSE_NAMES),
        extra={"fine_labels": fine},
        extra_names={"fine_labels": list(FINE_NAMES)},
    )


def _indices_example(tmp_path: Path) -> dict[str, Any]:
    path = tmp_path / "rows.txt"
    write_index_file(path, [3, 1, 4, 15, 9, 26])
    return {"path": str(path)}


# One working example per registered kind, with the view it runs on; a test asserts that
# every kind in FORGET_KINDS has one, so a new kind is tested the moment it is registered.
KIND_EXAMPLES: dict[str, Callable[[Path], tuple[TrainView, dict[str, Any]]]] = {
    "per": lambda tmp: (make_view(), {"per": 10}),
    "fraction": lambda tmp: (make_view(), {"fraction": 0.2}),
    "class": lambda tmp: (make_view(), {"target": "class3"}),
    "subclass": lambda tmp: (make_fine_view(), {"name": "rocket"}),
    "indices": lambda tmp: (make_view(), _indices_example(tmp)),
    "known": lambda tmp: (_manipulated_view(), {"fraction": 0.5}),
}


def _manipulated_view() -> TrainView:
    """The standard view of a model pretrained on a manipulation of every third row."""
    view = make_view()
    view.manipulated = np.arange(view.n) % 3 == 0
    return view
