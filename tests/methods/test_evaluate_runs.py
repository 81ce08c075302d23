"""`evaluate` on unlearned runs: its own forget set by default, a retrain reference of the same
model and forget set only, and the method and seed in the metrics table."""

from __future__ import annotations

import pytest

from tests.conftest import assert_one_line_error
from tests.methods.runs import FORGET, run
from unlearn_cli.artifacts import load_table
from unlearn_cli.train.options import GenericOptions


@pytest.fixture
def ecli(cli, mws):
    cli.workspace = mws
    run(mws, "retrain", seed=1, generic=GenericOptions(epochs=2))
    run(mws, "finetune", seed=4, generic=GenericOptions(epochs=1))
    return cli


@pytest.mark.slow
def test_an_unlearned_run_is_evaluated_on_its_own_forget_set(ecli):
    result = ecli("evaluate", "--run", f"{FORGET}-finetune-s4", "--reference", f"{FORGET}-retrain-s1")
    assert result.exit_code == 0, result.stderr
    manifest = ecli.workspace.read("evaluation", f"{FORGET}-finetune-s4")
    assert manifest.config["forget"] == FORGET and manifest.config["method"] == "finetune"
    table = load_table(ecli.workspace.abs(manifest.files["metrics"].path))
    assert set(table.column("method").to_pylist()) == {"finetune"}
    assert set(table.column("seed").to_pylist()) == {4}
    assert "avg_gap" in table.column("metric").to_pylist()


def test_reference_must_be_a_retrain_run(ecli):
    assert_one_line_error(ecli("evaluate", "--run", f"{FORGET}-retrain-s1", "--reference", f"{FORGET}-finetune-s4"),
                          f"reference {FORGET}-finetune-s4 is a finetune run, not a retrain run")


@pytest.mark.slow
def test_reference_of_another_forget_set_or_model(ecli):
    ws = ecli.workspace
    assert ecli("make-forget-set", "--model", "digits-cnn-s0", "--per", "1", "--name", "f1").exit_code == 0
    assert ecli("unlearn", "--method", "retrain", "--forget", "f1", "--epochs", "1").exit_code == 0
    assert_one_line_error(ecli("evaluate", "--run", f"{FORGET}-finetune-s4", "--reference", "f1-retrain-s0"),
                          "was made on another forget set")
    # Another model, same dataset: its own forget set, then evaluated against our run's.
    assert ecli("pretrain", "--width", "0.25", "--epochs", "1", "--seed", "7").exit_code == 0
    assert ecli("make-forget-set", "--model", "digits-cnn-w0.25-e1-s7", "--per", "10", "--name", "other").exit_code == 0
    assert ecli("unlearn", "--method", "retrain", "--forget", "other", "--epochs", "1").exit_code == 0
    result = ecli("evaluate", "--run", "digits-cnn-s0", "--forget", FORGET, "--reference", "other-retrain-s0")
    assert_one_line_error(result, "other-retrain-s0")
    assert ws.names("evaluation") == []


def test_an_unlearned_run_refuses_another_forget_set(ecli):
    assert ecli("make-forget-set", "--model", "digits-cnn-s0", "--per", "1", "--name", "f1").exit_code == 0
    assert_one_line_error(ecli("evaluate", "--run", f"{FORGET}-finetune-s4", "--forget", "f1"),
                          "was unlearned on another forget set than f1")
