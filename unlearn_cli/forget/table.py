"""The forget-set index table (ARCHITECTURE.md "What each step writes"): one row per train row,
so D_r is simply every row with `forget == False`, and every later step sees the training view
from one file."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import pyarrow as pa

from unlearn_cli.errors import InputError

SCHEMA = pa.schema(
    [
        ("index", pa.int64()),  # row in the train split
        ("label", pa.int64()),  # true label
        ("train_label", pa.int64()),  # label the model trains with
        ("poisoned", pa.bool_()),  # trigger applied
        ("forget", pa.bool_()),  # in D_f (known to the unlearner)
        # Changed by the manipulation: relabelled or poisoned, and also the labelswap rows the
        # permutation happened to give back their own label (the corrective repository counts
        # them as manipulated; they cannot be told from the labels alone).
        ("manipulated", pa.bool_()),
    ]
)
# Tables written before the `manipulated` column existed are read with it derived.
OPTIONAL = ("manipulated",)


@dataclass
class ForgetTableView:
    """A validated forget table as numpy arrays, in train-row order."""

    labels: np.ndarray  # int64 (N,)
    train_label: np.ndarray  # int64 (N,)
    poisoned: np.ndarray  # bool (N,)
    forget: np.ndarray  # bool (N,)
    manipulated: np.ndarray  # bool (N,)

    @property
    def n(self) -> int:
        return int(self.labels.shape[0])

    @property
    def forget_indices(self) -> np.ndarray:
        return np.flatnonzero(self.forget).astype(np.int64)

    @property
    def retain_indices(self) -> np.ndarray:
        return np.flatnonzero(~self.forget).astype(np.int64)

    @property
    def relabelled(self) -> np.ndarray:
        """Rows whose training label differs from the true one."""
        return self.train_label != self.labels


def indices_to_mask(indices: np.ndarray, n_rows: int) -> np.ndarray:
    """A bool (n_rows,) mask that is True at `indices`."""
    mask = np.zeros(n_rows, dtype=bool)
    mask[np.asarray(indices, dtype=np.int64)] = True
    return mask


def forget_table(
    labels: np.ndarray,
    forget_mask: np.ndarray,
    train_label: np.ndarray | None = None,
    poisoned: np.ndarray | None = None,
    manipulated: np.ndarray | None = None,
) -> pa.Table:
    """Build the table; without a manipulation, train_label = label and nothing is poisoned.
    `manipulated` defaults to the rows that are relabelled or poisoned."""
    labels = _int_column(labels, "label")
    n = labels.size
    train = labels.copy() if train_label is None else _int_column(train_label, "train_label")
    trig = np.zeros(n, dtype=bool) if poisoned is None else _bool_column(poisoned, "poisoned")
    forget = _bool_column(forget_mask, "forget")
    changed = (trig | (train != labels)) if manipulated is None else _bool_column(manipulated, "manipulated")
    for name, column in (("train_label", train), ("poisoned", trig), ("forget", forget), ("manipulated", changed)):
        if column.shape != (n,):
            # The step passes arrays it built itself: a mismatch is a bug, not user input.
            raise ValueError(f"forget_table: {name} has {column.size} rows, label has {n}")
    return pa.table(
        [pa.array(np.arange(n, dtype=np.int64)), pa.array(labels), pa.array(train), pa.array(trig), pa.array(forget),
         pa.array(changed)],
        schema=SCHEMA,
    )


def read_forget_table(table: pa.Table, source: str = "forget table") -> ForgetTableView:
    """Validate a forget table and return it as arrays; `source` (e.g. the file's path)
    names it in errors. Raises InputError for missing columns, wrong types, nulls, an
    `index` that is not 0..N−1 in order, or an empty D_f or D_r."""
    missing = [name for name in SCHEMA.names if name not in table.column_names and name not in OPTIONAL]
    if missing:
        raise InputError(
            f"{source} lacks the column(s) {', '.join(missing)}",
            hint="make it with make-forget-set, or give the columns " + ", ".join(SCHEMA.names),
        )
    arrays: dict[str, np.ndarray] = {}
    for schema_field in SCHEMA:
        if schema_field.name not in table.column_names:
            continue  # an optional column, derived below
        column = table.column(schema_field.name)
        if column.null_count:
            raise InputError(f"{source}: column {schema_field.name} has {column.null_count} null values")
        want_bool = pa.types.is_boolean(schema_field.type)
        ok = pa.types.is_boolean(column.type) if want_bool else pa.types.is_integer(column.type)
        if not ok:
            raise InputError(
                f"{source}: column {schema_field.name} has type {column.type}, expected {schema_field.type}",
                hint="make it with make-forget-set",
            )
        values = column.to_numpy()
        arrays[schema_field.name] = values.astype(bool if want_bool else np.int64)
    n = table.num_rows
    index = arrays["index"]
    if not np.array_equal(index, np.arange(n)):
        first = int(np.flatnonzero(index != np.arange(n))[0])
        raise InputError(
            f"{source}: column index must list every train row 0..{n - 1} in order; row {first} has {index[first]}",
            hint="make it with make-forget-set",
        )
    for name in ("label", "train_label"):
        if n and arrays[name].min() < 0:
            raise InputError(f"{source}: column {name} has negative labels")
    manipulated = arrays.get("manipulated")
    if manipulated is None:
        manipulated = arrays["poisoned"] | (arrays["train_label"] != arrays["label"])
    view = ForgetTableView(arrays["label"], arrays["train_label"], arrays["poisoned"], arrays["forget"], manipulated)
    n_forget = int(view.forget.sum())
    if n_forget == 0:
        raise InputError(f"{source} marks no row as forget (D_f is empty)", hint="make the forget set again")
    if n_forget == n:
        raise InputError(f"{source} marks every row as forget (D_r is empty)", hint="make the forget set again")
    return view


def class_counts(
    table: pa.Table, num_classes: int, by: Literal["label", "train_label"] = "label"
) -> dict[str, int]:
    """Forget rows per class, every class listed (zeros included, as the hardest sets skip
    classes); keys are class indices as strings so the dict is a JSON object as is."""
    view = read_forget_table(table)
    labels = view.labels if by == "label" else view.train_label
    if view.n and int(labels.max()) >= num_classes:
        raise InputError(
            f"forget table has {by} {int(labels.max())}, beyond the {num_classes} classes given",
            hint="pass the dataset's class count",
        )
    counts = np.bincount(labels[view.forget], minlength=num_classes)
    return {str(c): int(k) for c, k in enumerate(counts)}


def forget_summary(table: pa.Table) -> dict[str, int]:
    """Headline sizes for a manifest's summary."""
    view = read_forget_table(table)
    return {
        "train": view.n,
        "forget": int(view.forget.sum()),
        "retain": int((~view.forget).sum()),
        "poisoned": int(view.poisoned.sum()),
        "relabelled": int(view.relabelled.sum()),
        "manipulated": int(view.manipulated.sum()),
        "manipulated_known": int((view.forget & view.manipulated).sum()),
    }


def _int_column(values: np.ndarray, name: str) -> np.ndarray:
    array = np.asarray(values)
    if array.ndim != 1 or not np.issubdtype(array.dtype, np.integer):
        raise ValueError(f"forget_table: {name} must be a 1-D integer array, got {array.dtype}{array.shape}")
    return array.astype(np.int64)


def _bool_column(values: np.ndarray, name: str) -> np.ndarray:
    array = np.asarray(values)
    if array.ndim != 1 or array.dtype != np.bool_:
        raise ValueError(f"forget_table: {name} must be a 1-D bool array, got {array.dtype}{array.shape}")
    return array
