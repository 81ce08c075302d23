"""Corrective manipulations (README.md "Forget sets") and the known subset D_f."""

from __future__ import annotations

import numpy as np
import pytest

from unlearn_cli.errors import InputError, UnknownNameError
from unlearn_cli.forget import MANIPULATIONS, known_subset, manipulate

from .synthetic import CLASS_NAMES, NUM_CLASSES, N, make_view

# Shuffled so that "first rows by index" differs from "any rows".
LABELS = make_view().labels


def _run(kind: str, **kwargs: object) -> object:
    options: dict[str, object] = {"size": 20, "seed": 0, "classes": (3, 5)}
    options.update(kwargs)
    return manipulate(kind, LABELS, NUM_CLASSES, class_names=CLASS_NAMES, **options)  # type: ignore[arg-type]


@pytest.mark.parametrize("kind", MANIPULATIONS.names())
def test_manipulation_contract(kind: str) -> None:
    before = LABELS.copy()
    view = _run(kind)
    assert np.array_equal(LABELS, before)  # true labels are never touched
    assert view.train_label.dtype == np.int64 and view.train_label.shape == (N,)
    assert view.poisoned.dtype == bool and view.manipulated.dtype == bool
    assert view.manipulated.sum() == 20
    untouched = ~view.manipulated
    assert np.array_equal(view.train_label[untouched], LABELS[untouched])
    assert not view.poisoned[untouched].any()
    assert np.array_equal(view.manipulated_indices, np.flatnonzero(view.manipulated))
    again = _run(kind)
    assert np.array_equal(view.train_label, again.train_label) and np.array_equal(view.poisoned, again.poisoned)


@pytest.mark.parametrize("kind", MANIPULATIONS.names())
def test_size_larger_than_the_split(kind: str) -> None:
    with pytest.raises(InputError, match=f"--size {N + 1}"):
        _run(kind, size=N + 1)


@pytest.mark.parametrize("size", [0, -3, 2.5])
def test_size_must_be_positive_integer(size: object) -> None:
    with pytest.raises(InputError, match=f"--size {size}"):
        _run("poison", size=size)


def test_unknown_manipulation_lists_valid_ones() -> None:
    with pytest.raises(UnknownNameError, match="blend") as info:
        _run("blend")
    assert "poison" in (info.value.hint or "") and "labelswap" in (info.value.hint or "")


# ------------------------------------------------------------------------------ poison


def test_poison_relabels_to_the_target_and_marks_the_trigger() -> None:
    view = _run("poison", size=60, target=2, seed=1)
    rows = np.flatnonzero(view.poisoned)
    assert rows.size == 60 and (view.train_label[rows] == 2).all()
    assert np.array_equal(view.manipulated, view.poisoned)
    # Rows already of the target class keep their label yet count: they carry the trigger.
    already = rows[LABELS[rows] == 2]
    assert already.size > 0 and view.manipulated[already].all()
    other = _run("poison", size=60, target=2, seed=2)
    assert not np.array_equal(view.poisoned, other.poisoned)


def test_poison_target_by_name_and_out_of_range() -> None:
    assert (_run("poison", target="class7").train_label[_run("poison").poisoned] == 7).all()
    with pytest.raises(InputError, match="12"):
        _run("poison", target=12)
    with pytest.raises(InputError, match="-1"):
        _run("poison", target=-1)


# -------------------------------------------------------------------------- interclass


def test_interclass_swaps_the_first_half_by_index() -> None:
    view = _run("interclass", size=10, seed=0)
    first3 = np.flatnonzero(LABELS == 3)[:5]
    first5 = np.flatnonzero(LABELS == 5)[:5]
    assert (view.train_label[first3] == 5).all() and (view.train_label[first5] == 3).all()
    assert np.flatnonzero(view.manipulated).tolist() == sorted([*first3, *first5])
    assert not view.poisoned.any()
    # Deterministic: the seed does not matter.
    assert np.array_equal(view.train_label, _run("interclass", size=10, seed=9).train_label)


def test_interclass_default_classes_and_names() -> None:
    by_default = _run("interclass", size=10, classes=None, default_classes=(3, 5))
    by_name = _run("interclass", size=10, classes=("class3", "class5"))
    assert np.array_equal(by_default.train_label, _run("interclass", size=10).train_label)
    assert np.array_equal(by_name.train_label, by_default.train_label)


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"size": 11}, "--size 11 is odd"),
        ({"size": 62}, "31 rows of class 3, which has only 30"),
        ({"classes": (4, 4)}, "same class twice (class4)"),
        ({"classes": ("class4", "kitten")}, "kitten"),
        ({"classes": (1, 2, 3)}, "two classes"),
        ({"classes": None}, "--classes"),
    ],
)
def test_interclass_errors(kwargs: dict[str, object], needle: str) -> None:
    with pytest.raises(InputError) as info:
        _run("interclass", **kwargs)
    assert needle in str(info.value)


# --------------------------------------------------------------------------- labelswap


def _reference_labelswap(labels: np.ndarray, size: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    # corrective-unlearning-bench src/datasets.py:manip_dataset, 'randomlabelswap', with our
    # seeded draw in place of np.random.choice: the i-th row in index order takes the label of
    # the i-th row drawn. Returns (train labels, drawn rows).
    drawn = np.random.default_rng(seed).choice(labels.size, size, replace=False)
    manip_dict = {row: labels[drawn[i]] for i, row in enumerate(np.sort(drawn))}
    out = labels.copy()
    for row, label in manip_dict.items():
        out[row] = label
    return out, drawn


@pytest.mark.parametrize("seed", range(5))
def test_labelswap_is_the_reference_permutation(seed: int) -> None:
    view = _run("labelswap", size=25, seed=seed)
    expected, drawn = _reference_labelswap(LABELS, 25, seed)
    assert np.array_equal(view.train_label, expected)
    assert np.flatnonzero(view.manipulated).tolist() == sorted(drawn.tolist())
    assert sorted(view.train_label[view.manipulated]) == sorted(LABELS[view.manipulated])  # a permutation
    assert not view.poisoned.any()


def test_labelswap_rows_that_keep_their_label_still_count_as_manipulated() -> None:
    # With seed 1, 4 of the 25 drawn rows get their own label back (about 1/C of them, as in
    # the reference; counted with the transcription above): they stay manipulated, and D_f
    # may include them.
    view = _run("labelswap", size=25, seed=1)
    kept = view.manipulated & (view.train_label == LABELS)
    assert kept.sum() == 4
    assert view.manipulated.sum() == 25 and (view.train_label != LABELS).sum() == 21
    assert np.array_equal(np.bincount(view.train_label, minlength=NUM_CLASSES), np.bincount(LABELS))
    assert known_subset(view.manipulated, 1.0, seed=0)[kept].all()


def test_labelswap_of_a_single_label_changes_nothing_but_marks_every_drawn_row() -> None:
    labels = np.full(10, 4)
    view = manipulate("labelswap", labels, 5, size=6, seed=0)
    assert np.array_equal(view.train_label, labels) and view.manipulated.sum() == 6


# ------------------------------------------------------------------------------- known


@pytest.mark.parametrize(("known", "expected"), [(0.3, 3), (0.25, 3), (1.0, 10), (0.01, 1)])
def test_known_picks_round_f_n_manipulated_rows(known: float, expected: int) -> None:
    manipulated = np.zeros(50, dtype=bool)
    manipulated[::5] = True  # 10 manipulated rows
    mask = known_subset(manipulated, known, seed=0)
    assert mask.dtype == bool and mask.sum() == expected
    assert manipulated[mask].all()
    assert np.array_equal(mask, known_subset(manipulated, known, seed=0))


def test_known_seed_changes_the_subset() -> None:
    manipulated = np.ones(40, dtype=bool)
    assert not np.array_equal(known_subset(manipulated, 0.5, 0), known_subset(manipulated, 0.5, 1))


@pytest.mark.parametrize("known", [0, 1.5, -0.2, float("nan")])
def test_known_outside_range(known: float) -> None:
    with pytest.raises(InputError, match=f"--known {known}"):
        known_subset(np.ones(5, dtype=bool), known, 0)


def test_known_with_nothing_manipulated() -> None:
    with pytest.raises(InputError, match="no train rows are manipulated"):
        known_subset(np.zeros(5, dtype=bool), 0.5, 0)
