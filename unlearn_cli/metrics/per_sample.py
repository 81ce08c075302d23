"""The per-sample table (docs/metrics.md "Outputs of `evaluate`"): one row per evaluated sample,
for stronger attacks.

Storing loss, true-class probability and entropy per sample lets a later attack (LiRA, a
per-class threshold, ...) run from the Parquet file without re-running the model.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from unlearn_cli.metrics.context import EvalContext
from unlearn_cli.metrics.outputs import Outputs

SCHEMA = pa.schema([
    ("split", pa.string()),  # forget | retain | test | test_triggered
    ("index", pa.int64()),  # row in the train split, or in the test split
    ("label", pa.int64()),  # the label scored against (train label / true test label)
    ("prediction", pa.int64()),
    ("loss", pa.float32()),
    ("true_prob", pa.float32()),
    ("entropy", pa.float32()),
])


def _block(split: np.ndarray, outputs: Outputs) -> pa.Table:
    return pa.table(
        {
            "split": pa.array(split, type=pa.string()),
            "index": np.arange(len(outputs), dtype=np.int64),
            "label": outputs.labels.astype(np.int64),
            "prediction": outputs.predictions.astype(np.int64),
            "loss": outputs.loss.astype(np.float32),
            "true_prob": outputs.true_prob.astype(np.float32),
            "entropy": outputs.entropy.astype(np.float32),
        },
        schema=SCHEMA,
    )


def per_sample_table(ctx: EvalContext) -> pa.Table:
    """Train rows (in index order, split "forget", "retain", or for rows the model never trained
    on "validation" / "held_out"), then test, then the triggered test images when the run has
    them."""
    train_split = np.where(ctx.forget, "forget", "retain").astype(object)
    if ctx.held_out is not None:
        train_split[ctx.held_out] = "held_out"
    if ctx.validation is not None:
        train_split[ctx.validation] = "validation"
    train_split = train_split.astype(str)
    blocks = [_block(train_split, ctx.train),
              _block(np.full(len(ctx.test), "test"), ctx.test)]
    if ctx.test_triggered is not None:
        blocks.append(_block(np.full(len(ctx.test_triggered), "test_triggered"),
                             ctx.test_triggered))
    return pa.concat_tables(blocks)
