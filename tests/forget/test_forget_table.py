"""The forget-set index table: columns, validation, and summaries for the manifest."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from unlearn_cli.errors import InputError
from unlearn_cli.forget import (
    FORGET_TABLE_SCHEMA,
    class_counts,
    forget_summary,
    forget_table,
    indices_to_mask,
    known_subset,
    manipulate,
    read_forget_table,
)

LABELS = np.array([0, 1, 2, 0, 1, 2, 0, 1], dtype=np.int64)
FORGET = indices_to_mask(np.array([1, 3, 4]), 8)


def test_table_has_one_row_per_train_row_and_the_right_columns() -> None:
    table = forget_table(LABELS, FORGET)
    assert table.schema == FORGET_TABLE_SCHEMA
    assert table.column_names == ["index", "label", "train_label", "poisoned", "forget", "manipulated"]
    assert not any(table.column("manipulated").to_pylist())
    assert table.column("index").to_pylist() == list(range(8))
    assert table.column("train_label").to_pylist() == LABELS.tolist()  # no manipulation
    assert not any(table.column("poisoned").to_pylist())
    view = read_forget_table(table)
    assert view.forget_indices.tolist() == [1, 3, 4]
    assert view.retain_indices.tolist() == [0, 2, 5, 6, 7]


def test_corrective_table_round_trips_through_parquet(tmp_path: Path) -> None:
    manipulated = manipulate("poison", LABELS, 3, size=4, seed=0, target=2)
    known = known_subset(manipulated.manipulated, 0.5, seed=0)
    path = tmp_path / "forget.parquet"
    pq.write_table(forget_table(LABELS, known, manipulated.train_label, manipulated.poisoned), path)
    view = read_forget_table(pq.read_table(path), source=str(path))
    assert np.array_equal(view.labels, LABELS)
    assert np.array_equal(view.train_label, manipulated.train_label)
    assert np.array_equal(view.poisoned, manipulated.poisoned)
    assert np.array_equal(view.forget, known) and known.sum() == 2
    summary = forget_summary(pq.read_table(path))
    assert summary["train"] == 8 and summary["forget"] == 2 and summary["retain"] == 6
    assert summary["poisoned"] == 4 and summary["manipulated_known"] == 2


def test_class_counts_list_every_class() -> None:
    table = forget_table(LABELS, FORGET)
    assert class_counts(table, 4) == {"0": 1, "1": 2, "2": 0, "3": 0}
    relabelled = forget_table(LABELS, FORGET, train_label=np.full(8, 2, dtype=np.int64))
    assert class_counts(relabelled, 3, by="train_label") == {"0": 0, "1": 0, "2": 3}
    with pytest.raises(InputError, match="label 2, beyond the 1 classes"):
        class_counts(table, 1)


def _replace(table: pa.Table, name: str, values: pa.Array) -> pa.Table:
    return table.set_column(table.column_names.index(name), name, values)


GOOD = forget_table(LABELS, FORGET)


@pytest.mark.parametrize(
    ("table", "needle"),
    [
        (GOOD.drop_columns(["poisoned", "forget"]), "poisoned, forget"),
        (_replace(GOOD, "label", pa.array([0.5] * 8)), "column label has type double"),
        (_replace(GOOD, "forget", pa.array([1] * 8)), "column forget has type int64"),
        (_replace(GOOD, "poisoned", pa.array([None] + [False] * 7, pa.bool_())), "poisoned has 1 null"),
        (_replace(GOOD, "index", pa.array([0, 1, 2, 3, 5, 4, 6, 7])), "row 4 has 5"),
        (_replace(GOOD, "train_label", pa.array([-1] * 8)), "train_label has negative"),
        (_replace(GOOD, "forget", pa.array([False] * 8)), "D_f is empty"),
        (_replace(GOOD, "forget", pa.array([True] * 8)), "D_r is empty"),
    ],
)
def test_malformed_tables_are_named(table: pa.Table, needle: str) -> None:
    with pytest.raises(InputError) as info:
        read_forget_table(table, source="runs/f.parquet")
    assert "runs/f.parquet" in info.value.message and needle in info.value.message


def test_mismatched_arrays_are_a_programming_error() -> None:
    with pytest.raises(ValueError, match="forget has 3 rows"):
        forget_table(LABELS, np.zeros(3, dtype=bool))


def test_labelswap_rows_that_keep_their_label_stay_manipulated(tmp_path: Path) -> None:
    """A plain permutation gives some rows their own label back; they were still manipulated
    (the corrective repository counts them), so the table records it."""
    labels = np.array([0, 1, 2, 0, 1, 2, 0, 1, 2, 0] * 5)
    swapped = manipulate("labelswap", labels, 3, size=30, seed=1)
    kept = swapped.manipulated & (swapped.train_label == labels)
    assert kept.any() and swapped.manipulated.sum() == 30
    path = tmp_path / "f.parquet"
    pq.write_table(forget_table(labels, swapped.manipulated, swapped.train_label, None, swapped.manipulated), path)
    view = read_forget_table(pq.read_table(path))
    assert np.array_equal(view.manipulated, swapped.manipulated)
    assert forget_summary(pq.read_table(path))["manipulated"] == 30


def test_a_table_without_the_manipulated_column_derives_it() -> None:
    train = LABELS.copy()
    train[0] = (train[0] + 1) % 3
    table = forget_table(LABELS, FORGET, train).drop_columns(["manipulated"])
    assert read_forget_table(table).manipulated.tolist() == [True] + [False] * 7
