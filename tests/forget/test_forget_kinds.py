"""Forget-set kinds (README.md "Forget sets") on tiny synthetic views."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from unlearn_cli.errors import ArtifactError, InputError, UnknownNameError
from unlearn_cli.forget import (
    FORGET_KINDS,
    DifficultyRecord,
    PerParams,
    TrainView,
    forget_table,
    indices_to_mask,
    make_forget_indices,
    resolve_class,
    resolve_params,
    round_half_up,
    write_index_file,
)
from unlearn_cli.forget.kinds import natmu_per_class_count

from .synthetic import CLASS_NAMES, KIND_EXAMPLES, NUM_CLASSES, N, make_view

# ------------------------------------------------------------- every registered kind


def test_every_kind_has_an_example() -> None:
    assert set(KIND_EXAMPLES) == set(FORGET_KINDS.names())


@pytest.mark.parametrize("name", FORGET_KINDS.names())
def test_kind_contract(name: str, tmp_path: Path) -> None:
    kind = FORGET_KINDS.get(name)
    assert kind.description
    assert dataclasses.is_dataclass(kind.params) and kind.params.__dataclass_params__.frozen
    view, params = KIND_EXAMPLES[name](tmp_path)
    out = make_forget_indices(name, view, params, seed=0)
    assert out.dtype == np.int64 and out.ndim == 1
    assert np.array_equal(out, np.unique(out))  # sorted, unique
    assert 0 < out.size < view.n and out[0] >= 0 and out[-1] < view.n
    # Same seed → same set; a params instance works like the mapping it came from.
    assert np.array_equal(out, make_forget_indices(name, view, resolve_params(kind, params), seed=0))


@pytest.mark.parametrize("name", FORGET_KINDS.names())
def test_unknown_parameter_is_named(name: str, tmp_path: Path) -> None:
    view, params = KIND_EXAMPLES[name](tmp_path)
    with pytest.raises(InputError, match="bogus"):
        make_forget_indices(name, view, {**params, "bogus": 1}, seed=0)


def test_unknown_kind_lists_valid_kinds(view: TrainView) -> None:
    with pytest.raises(UnknownNameError, match="nope") as info:
        make_forget_indices("nope", view, None, seed=0)
    assert "per" in (info.value.hint or "") and "subclass" in (info.value.hint or "")


def test_negative_seed_is_rejected(view: TrainView) -> None:
    with pytest.raises(InputError, match="-1"):
        make_forget_indices("per", view, {"per": 10}, seed=-1)


def test_round_half_up_rounds_halves_up_in_decimal() -> None:
    assert round_half_up(10, 0.15) == 2  # binary 0.15 is 0.1499…; the user meant 0.15
    assert round_half_up(50, 0.01) == 1  # Python's round(0.5) would give 0
    assert round_half_up(149, 0.01) == 1
    assert round_half_up(250, 0.01) == 3


# ------------------------------------------------------------------------------- per


def _uneven_view() -> TrainView:
    """Classes of 5, 149, 150, 296 rows (N = 600, C = 4): NatMU's count ignores the sizes."""
    sizes = [5, 149, 150, 296]
    labels = np.random.default_rng(0).permutation(np.repeat(np.arange(4), sizes))
    return TrainView(labels, 4, ["a", "b", "c", "d"])


# int(N/100/C·per) by hand for N = 600, C = 4: per 1 → int(1.5) = 1, per 10 → int(15.0) = 15,
# the same for every class, except class a, which has only 5 rows and gives all of them.
@pytest.mark.parametrize(("per", "expected"), [(1, [1, 1, 1, 1]), (10, [5, 15, 15, 15])])
def test_per_random_takes_natmus_count_from_every_class(per: int, expected: list[int]) -> None:
    view = _uneven_view()
    out = make_forget_indices("per", view, {"per": per}, seed=3)
    assert np.bincount(view.labels[out], minlength=4).tolist() == expected
    assert natmu_per_class_count(600, 4, per) == (1 if per == 1 else 15)


def test_per_count_is_natmus_float_expression() -> None:
    # NatMU sample-wise/utils/data.py:generate_idx: int(N /100 /C*per), truncated, not rounded.
    assert natmu_per_class_count(50000, 10, 1) == 50 and natmu_per_class_count(50000, 100, 10) == 50
    assert natmu_per_class_count(599, 4, 1) == 1  # 1.4975
    assert natmu_per_class_count(599, 4, 10) == 14  # 14.975: a half-up rule would give 15
    assert natmu_per_class_count(100000, 200, 1) == 5  # tinyimagenet


def test_per_random_differs_from_fraction_on_an_unbalanced_split() -> None:
    # --fraction takes each class's own share (round(n_c·F)); --per takes one count for all.
    view = _uneven_view()
    fraction = make_forget_indices("fraction", view, {"fraction": 0.1}, seed=3)
    assert np.bincount(view.labels[fraction], minlength=4).tolist() == [1, 15, 15, 30]


def _natmu_generate_idx(labels: np.ndarray, num_classes: int, forget_percent: int, seed: int) -> np.ndarray:
    """A hand transcription of NatMU's generate_idx (sample-wise/utils/data.py:155-175) after
    `np.random.seed(seed)`, the seeding its seed_everything does (utils/util.py:253-255)."""
    np.random.seed(seed)
    forget_idx = []
    num_total_samples = len(labels)
    for i in range(num_classes):
        idxs = np.nonzero(labels == i)[0]
        np.random.shuffle(idxs)
        forget_idx.append(idxs[:int(num_total_samples / 100 / num_classes * forget_percent)])
    return np.concatenate(forget_idx, axis=0)


@pytest.mark.parametrize("seed", [0, 1, 42, 2**32 - 1])
@pytest.mark.parametrize("per", [1, 10])
def test_per_random_draws_the_rows_natmu_draws_with_the_same_seed(per: int, seed: int) -> None:
    # (per 1 of the 300-row view would select int(0.3) = 0 rows per class: an error, tested elsewhere.)
    for view in ((make_view(), _uneven_view()) if per == 10 else (_uneven_view(),)):
        ours = make_forget_indices("per", view, {"per": per}, seed=seed)
        reference = _natmu_generate_idx(view.labels, view.num_classes, per, seed)
        assert ours.tolist() == sorted(reference.tolist())


def test_per_random_seed_changes_the_set(view: TrainView) -> None:
    a = make_forget_indices("per", view, {"per": 10}, seed=0)
    b = make_forget_indices("per", view, {"per": 10}, seed=1)
    assert a.size == b.size == 30 and not np.array_equal(a, b)


def test_per_random_never_asks_for_the_model() -> None:
    def boom() -> np.ndarray:
        raise AssertionError("confidence computed for a random set")

    view = make_view(with_record=False)
    view.confidence = boom
    assert make_forget_indices("per", view, {"per": 10}, seed=0).size == 30
    kind = FORGET_KINDS.get("per")
    assert not kind.requires_model(PerParams(10)) and kind.requires_model(PerParams(110))
    assert not FORGET_KINDS.get("class").requires_model(None)


def _keys(view: TrainView, rows: np.ndarray) -> list[tuple[float, float]]:
    assert view.difficulty is not None
    return list(zip(view.difficulty.misclassified_fraction[rows], view.difficulty.mean_loss[rows]))


@pytest.mark.parametrize("per", [101, 110])
def test_per_hardest_are_the_most_difficult_rows(view: TrainView, per: int) -> None:
    out = make_forget_indices("per", view, {"per": per}, seed=0)
    assert out.size == round_half_up(N, (per - 100) / 100)
    rest = np.setdiff1d(np.arange(N), out)
    # Every chosen row is at least as hard (misclassified, then loss) as every other row.
    assert min(_keys(view, out)) >= max(_keys(view, rest))


def test_per_hardest_without_ties_is_exactly_the_top_rows() -> None:
    view = make_view()
    assert view.difficulty is not None
    miscls = view.difficulty.misclassified_fraction
    loss = np.arange(N, dtype=np.float64)  # distinct losses: no random tie-break needed
    view.difficulty = DifficultyRecord(miscls, loss)
    expected = sorted(range(N), key=lambda i: (-miscls[i], -loss[i]))[:30]
    for seed in (0, 1):
        assert make_forget_indices("per", view, {"per": 110}, seed=seed).tolist() == sorted(expected)


@pytest.mark.parametrize("difficulty", ["record", "confidence"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_per_hardest_1_percent_is_inside_10_percent(view: TrainView, difficulty: str, seed: int) -> None:
    small = make_forget_indices("per", view, {"per": 101, "difficulty": difficulty}, seed=seed)
    large = make_forget_indices("per", view, {"per": 110, "difficulty": difficulty}, seed=seed)
    assert small.size == 3 and large.size == 30
    assert np.isin(small, large).all()


def test_per_hardest_ties_are_broken_by_the_seed() -> None:
    labels = np.repeat(np.arange(10), 30)
    flat = DifficultyRecord(np.zeros(N), np.zeros(N))  # everything tied
    view = TrainView(labels, NUM_CLASSES, list(CLASS_NAMES), difficulty=flat)
    a = make_forget_indices("per", view, {"per": 110}, seed=0)
    assert np.array_equal(a, make_forget_indices("per", view, {"per": 110}, seed=0))
    assert not np.array_equal(a, make_forget_indices("per", view, {"per": 110}, seed=1))
    assert not np.array_equal(a, np.arange(30))  # not simply the lowest indices


def test_per_hardest_by_confidence_takes_the_least_confident(view: TrainView) -> None:
    assert view.confidence is not None
    confidence = view.confidence()
    out = make_forget_indices("per", view, {"per": 110, "difficulty": "confidence"}, seed=0)
    assert out.tolist() == sorted(np.argsort(confidence)[:30].tolist())


def test_per_hardest_without_record_says_how_to_fix() -> None:
    with pytest.raises(InputError) as info:
        make_forget_indices("per", make_view(with_record=False), {"per": 110}, seed=0)
    assert "difficulty" in info.value.message
    assert info.value.hint == "pretrain records difficulty; or pass --difficulty confidence"


def test_per_confidence_without_model_is_an_error() -> None:
    view = make_view(with_record=False, with_confidence=False)
    with pytest.raises(InputError, match="confidence"):
        make_forget_indices("per", view, {"per": 101, "difficulty": "confidence"}, seed=0)


def test_per_record_of_the_wrong_length_is_an_artifact_error(view: TrainView) -> None:
    view.difficulty = DifficultyRecord(np.zeros(N - 1), np.zeros(N - 1))
    with pytest.raises(ArtifactError, match=str(N)):
        make_forget_indices("per", view, {"per": 110}, seed=0)


def test_per_record_with_nan_is_an_artifact_error(view: TrainView) -> None:
    loss = np.zeros(N)
    loss[7] = np.nan
    view.difficulty = DifficultyRecord(np.zeros(N), loss)
    with pytest.raises(ArtifactError, match=r"\[7\]"):
        make_forget_indices("per", view, {"per": 110}, seed=0)


@pytest.mark.parametrize("per", [55, 0, 100, "ten"])
def test_per_invalid_value_lists_the_valid_ones(view: TrainView, per: object) -> None:
    with pytest.raises(InputError, match=str(per)) as info:
        make_forget_indices("per", view, {"per": per}, seed=0)
    if per != "ten":
        assert "1, 10, 101, 110" in (info.value.hint or "")


def test_per_invalid_difficulty_lists_the_valid_ones(view: TrainView) -> None:
    with pytest.raises(InputError, match="loss") as info:
        make_forget_indices("per", view, {"per": 110, "difficulty": "loss"}, seed=0)
    assert "record" in (info.value.hint or "") and "confidence" in (info.value.hint or "")


def test_per_1_on_a_tiny_split_is_empty_and_an_error(view: TrainView) -> None:
    # round(30 · 1 %) = 0 rows per class: nothing to forget.
    with pytest.raises(InputError, match="no train rows"):
        make_forget_indices("per", view, {"per": 1}, seed=0)


# -------------------------------------------------------------------------- fraction


def test_fraction_balanced_takes_round_n_c_f_per_class(view: TrainView) -> None:
    out = make_forget_indices("fraction", view, {"fraction": 0.15}, seed=0)
    assert np.bincount(view.labels[out], minlength=NUM_CLASSES).tolist() == [5] * NUM_CLASSES  # 4.5 → 5


def test_fraction_unbalanced_takes_round_n_f_overall(view: TrainView) -> None:
    out = make_forget_indices("fraction", view, {"fraction": "0.15", "balance": "false"}, seed=0)
    assert out.size == 45
    other = make_forget_indices("fraction", view, {"fraction": 0.15, "balance": False}, seed=1)
    assert not np.array_equal(out, other)


@pytest.mark.parametrize("fraction", [0, 1, -0.1, 1.5, float("nan")])
def test_fraction_outside_open_unit_interval(view: TrainView, fraction: float) -> None:
    with pytest.raises(InputError, match="fraction"):
        make_forget_indices("fraction", view, {"fraction": fraction}, seed=0)


@pytest.mark.parametrize(("key", "value"), [("fraction", "abc"), ("balance", "maybe")])
def test_fraction_uncoercible_values_are_named(view: TrainView, key: str, value: str) -> None:
    with pytest.raises(InputError, match=f"{key}='{value}'"):
        make_forget_indices("fraction", view, {key: value}, seed=0)


# ----------------------------------------------------------------------------- class


@pytest.mark.parametrize("target", ["class3", "3", 3, "CLASS3"])
def test_class_by_name_or_index(view: TrainView, target: object) -> None:
    out = make_forget_indices("class", view, {"target": target}, seed=0)
    assert out.tolist() == np.flatnonzero(view.labels == 3).tolist()


@pytest.mark.parametrize("target", ["³", "٣", "３", "۳", "1²"])
def test_class_non_ascii_digits_are_names_not_indices(view: TrainView, target: str) -> None:
    # str.isdigit() accepts these; int() rejects '³' and reads '٣'/'３' as 3. Only ASCII digits
    # are indices, so each is an unknown name with the list of valid ones.
    with pytest.raises(UnknownNameError, match=target) as info:
        make_forget_indices("class", view, {"target": target}, seed=0)
    assert all(name in (info.value.hint or "") for name in CLASS_NAMES)


def test_class_named_with_a_non_ascii_digit_is_found_by_name() -> None:
    names = ["zero", "²", "٣"]
    assert resolve_class("²", names) == 1 and resolve_class("٣", names) == 2 and resolve_class("2", names) == 2


def test_class_unknown_name_lists_every_name(view: TrainView) -> None:
    with pytest.raises(UnknownNameError, match="platypus") as info:
        make_forget_indices("class", view, {"target": "platypus"}, seed=0)
    assert all(name in (info.value.hint or "") for name in CLASS_NAMES)


def test_class_index_out_of_range(view: TrainView) -> None:
    with pytest.raises(InputError, match="12"):
        make_forget_indices("class", view, {"target": "12"}, seed=0)


def test_class_needs_a_target(view: TrainView) -> None:
    with pytest.raises(InputError, match="target"):
        make_forget_indices("class", view, None, seed=0)


def test_class_cifar100_paper_names_are_ordinary_names() -> None:
    names = [f"c{i}" for i in range(100)]
    names[69], names[51] = "rocket", "mushroom"
    labels = np.arange(200) % 100
    view = TrainView(labels, 100, names)
    assert make_forget_indices("class", view, {"target": "rocket"}, seed=0).tolist() == [69, 169]


def test_class_without_rows_is_an_error() -> None:
    view = TrainView(np.array([0, 0, 1, 1]), 3, ["a", "b", "c"])
    with pytest.raises(InputError, match="'c'"):
        make_forget_indices("class", view, {"target": "c"}, seed=0)


def test_forgetting_the_whole_train_set_is_an_error() -> None:
    view = TrainView(np.zeros(6, dtype=np.int64), 2, ["a", "b"])
    with pytest.raises(InputError, match="all 6 train rows"):
        make_forget_indices("class", view, {"target": "a"}, seed=0)


# -------------------------------------------------------------------------- subclass


def test_subclass_selects_the_fine_class_and_labels_stay_coarse(fine_view: TrainView) -> None:
    fine = fine_view.extra["fine_labels"]
    labels_before = fine_view.labels.copy()
    out = make_forget_indices("subclass", fine_view, {"name": "rocket"}, seed=0)
    assert out.tolist() == np.flatnonzero(fine == 0).tolist()
    assert np.array_equal(fine_view.labels, labels_before)
    table = forget_table(fine_view.labels, indices_to_mask(out, fine_view.n))
    forgotten = table.filter(table.column("forget"))
    assert set(forgotten.column("label").to_pylist()) == {0}  # coarse "vehicles", not fine 0
    assert set(forgotten.column("train_label").to_pylist()) == {0}
    # The sibling fine class (bus) shares the coarse label but is not forgotten.
    assert not np.isin(np.flatnonzero(fine == 1), out).any()


def test_subclass_on_a_dataset_without_superclasses(view: TrainView) -> None:
    with pytest.raises(InputError, match="cifar20"):
        make_forget_indices("subclass", view, {"name": "rocket"}, seed=0)


def test_subclass_unknown_fine_name(fine_view: TrainView) -> None:
    with pytest.raises(UnknownNameError, match="whale") as info:
        make_forget_indices("subclass", fine_view, {"name": "whale"}, seed=0)
    assert "rocket" in (info.value.hint or "")


# --------------------------------------------------------------------------- indices


def test_indices_kind_reads_the_file(view: TrainView, tmp_path: Path) -> None:
    path = tmp_path / "rows.json"
    write_index_file(path, [9, 2, 5])
    assert make_forget_indices("indices", view, {"path": path}, seed=0).tolist() == [2, 5, 9]


def test_indices_kind_checks_the_split_size(view: TrainView, tmp_path: Path) -> None:
    path = tmp_path / "rows.npy"
    write_index_file(path, [1, N, N + 5])
    with pytest.raises(InputError, match=f"rows.npy.*{N}, {N + 5}"):
        make_forget_indices("indices", view, {"path": path}, seed=0)
