"""`pretrain --val-fraction`: a seeded, class-balanced split the model never trains on, recorded
in its manifest, neither D_f nor D_r for every later step, reported as VA; and an unlearning run
of such a model never opens the test split."""

from __future__ import annotations

import numpy as np
import pyarrow.parquet as pq
import pytest

from tests.conftest import Cli, assert_one_line_error
from tests.tune.conftest import FORGET, MODEL
from unlearn_cli.data.prepared import load_split
from unlearn_cli.forget.base import round_half_up
from unlearn_cli.steps.evaluate import evaluate
from unlearn_cli.steps.forget_set import make_forget_set
from unlearn_cli.steps.options import EvaluateOptions, ForgetSetOptions, UnlearnOptions
from unlearn_cli.steps.unlearn import unlearn
from unlearn_cli.train.options import GenericOptions

pytestmark = pytest.mark.slow


def _validation(ws) -> np.ndarray:
    model = ws.read("model", MODEL)
    return np.load(ws.abs(model.file("validation").path))


def test_the_split_is_class_balanced_seeded_and_recorded(tune_workspace):
    ws = tune_workspace
    model = ws.read("model", MODEL)
    rows = _validation(ws)
    labels = load_split(ws, ws.read("dataset", "digits"), "train").labels
    counts = np.bincount(labels[rows], minlength=10)
    expected = [round_half_up(int((labels == c).sum()), 0.1) for c in range(10)]
    assert counts.tolist() == expected
    assert np.all(np.diff(rows) > 0)  # sorted, distinct
    assert model.config["val_fraction"] == 0.1 and model.config["validation_rows"] == rows.size
    assert model.config["steps_per_epoch"] == (len(labels) - rows.size) // 64  # the fast recipe drops the last batch
    assert 0 < model.summary["validation_accuracy"] <= 100


def test_forget_sets_never_take_a_validation_row(tune_workspace, tmp_path):
    ws = tune_workspace
    rows = _validation(ws)
    for kind, params in (("fraction", {"fraction": 0.1}), ("per", {"per": 10}), ("class", {"target": "3"})):
        name = FORGET if kind == "fraction" else None
        path = ws.manifest_path("forget-set", name) if name else make_forget_set(
            ws, ForgetSetOptions(model=MODEL, kind=kind, params=params, name=f"vs-{kind}", device="cpu"))
        table = pq.read_table(ws.abs(ws.read("forget-set", path).file("index").path))
        forget = np.flatnonzero(table.column("forget").to_numpy())
        assert forget.size and not np.intersect1d(forget, rows).size, kind
    cli = Cli(ws)
    indices = tmp_path / "rows.txt"
    indices.write_text(f"{rows[0]}\n")
    assert_one_line_error(cli("make-forget-set", "--model", MODEL, "--indices", str(indices), "--name", "bad"),
                          "of the forget rows were left out of", "--val-fraction")


def test_unlearning_and_evaluation_leave_the_validation_rows_out(tws, test_split_guard):
    rows = _validation(tws)
    forget = tws.read("forget-set", FORGET)
    options = UnlearnOptions(method="finetune", forget=FORGET, generic=GenericOptions(epochs=1), device="cpu")
    run = tws.read("unlearned", unlearn(tws, options))  # the guard fails any read of the test split
    train_rows = len(load_split(tws, tws.read("dataset", "digits"), "train").labels)
    assert run.summary["retain_size"] == train_rows - rows.size - forget.summary["forget"]
    with test_split_guard.allow():
        result = evaluate(tws, EvaluateOptions(run=run.name, device="cpu"))
    assert "VA" in result.metrics
    samples = pq.read_table(tws.abs(tws.read("evaluation", result.manifest_path).file("samples").path))
    split = np.array(samples.column("split").to_pylist())
    index = samples.column("index").to_numpy()
    assert sorted(index[split == "validation"].tolist()) == rows.tolist()
    assert (split == "retain").sum() == run.summary["retain_size"]


def test_a_validation_fraction_out_of_range_is_one_line(cli):
    assert_one_line_error(cli("pretrain", "--val-fraction", "1.5"), "--val-fraction 1.5 is outside [0, 1)")
    assert_one_line_error(cli("pretrain", "--val-fraction", "-0.1"), "outside [0, 1)")
