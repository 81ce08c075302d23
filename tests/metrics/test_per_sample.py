"""The per-sample table: schema, one row per sample, values from the outputs."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from tests.metrics.helpers import full_context, random_context
from unlearn_cli.metrics import per_sample_table


def test_columns_and_types() -> None:
    table = per_sample_table(random_context())
    assert table.schema.names == ["split", "index", "label", "prediction", "loss",
                                  "true_prob", "entropy"]
    types = [table.schema.field(n).type for n in table.schema.names]
    assert types == [pa.string(), pa.int64(), pa.int64(), pa.int64(), pa.float32(),
                     pa.float32(), pa.float32()]


def test_one_row_per_sample_with_its_values() -> None:
    ctx = full_context()
    table = per_sample_table(ctx).to_pydict()
    n_train, n_test = len(ctx.train), len(ctx.test)
    assert len(table["split"]) == n_train + 2 * n_test
    split = np.array(table["split"])
    index = np.array(table["index"])
    train_rows = np.isin(split, ["forget", "retain", "validation", "held_out"])
    np.testing.assert_array_equal(index[train_rows], np.arange(n_train))
    np.testing.assert_array_equal(split[train_rows] == "forget", ctx.forget)
    # Rows the model never trained on are neither: the validation split is named as such.
    np.testing.assert_array_equal(split[train_rows] == "validation", ctx.validation)
    np.testing.assert_array_equal(split[train_rows] == "retain", ctx.retain)
    for name, outputs in (("test", ctx.test), ("test_triggered", ctx.test_triggered)):
        rows = split == name
        assert outputs is not None
        np.testing.assert_array_equal(index[rows], np.arange(n_test))
        np.testing.assert_array_equal(np.array(table["prediction"])[rows],
                                      outputs.predictions)
        np.testing.assert_allclose(np.array(table["loss"])[rows], outputs.loss, rtol=1e-6)
    np.testing.assert_array_equal(np.array(table["label"])[train_rows], ctx.train.labels)
    np.testing.assert_allclose(np.array(table["true_prob"])[train_rows], ctx.train.true_prob,
                               rtol=1e-6)
    np.testing.assert_allclose(np.array(table["entropy"])[train_rows], ctx.train.entropy,
                               rtol=1e-5, atol=1e-7)


def test_no_triggered_rows_without_a_triggered_test_set() -> None:
    table = per_sample_table(random_context())
    assert set(table.column("split").to_pylist()) == {"forget", "retain", "test"}
