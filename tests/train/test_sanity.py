"""A training run's final accuracies on stderr, and warnings when its numbers say it went wrong."""

from __future__ import annotations

import logging

import pytest

from unlearn_cli.train import sanity


def test_an_epoch_of_two_steps_is_a_warning_with_a_batch_that_fixes_it():
    # The fast recipe's batch 512 on 1 497 rows: 2 steps an epoch (drop_last).
    message = sanity.few_steps_warning(steps_per_epoch=2, batch_size=512, rows=1497, epochs=10)
    # 1 497 // 10 = 149 → the power of two below is 128 → 1 497 // 128 = 11 steps an epoch.
    assert message == ("an epoch is only 2 optimiser steps (batch 512 over 1497 rows), so 10 epochs train very "
                       "little; e.g. --batch-size 128 gives 11")


@pytest.mark.parametrize("steps, epochs", [(10, 10), (500, 1), (2, None)])
def test_enough_steps_or_a_run_counted_in_steps_is_not_a_warning(steps, epochs):
    assert sanity.few_steps_warning(steps_per_epoch=steps, batch_size=64, rows=5000, epochs=epochs) is None


@pytest.mark.parametrize("accuracy, classes, warned", [(9.3, 10, True), (15.0, 10, True), (15.1, 10, False),
                                                       (1.4, 100, True), (60.0, 100, False)])
def test_chance_is_within_one_and_a_half_times_guessing(accuracy, classes, warned):
    message = sanity.chance_warning("model m", accuracy, classes)
    assert (message is not None) == warned
    if warned:
        assert f"{accuracy:.1f} % on the test split" in message and f"{100 / classes:.1f} %" in message


def test_the_report_prints_the_line_and_logs_each_warning(capsys, caplog):
    with caplog.at_level(logging.WARNING, logger="unlearn_cli"):
        sanity.report("pretrain m", {"train": 99.12, "test": 97.78}, [None, "model m is at chance"])
    assert "pretrain m: train 99.1 %, test 97.8 %" in capsys.readouterr().err
    assert [record.getMessage() for record in caplog.records] == ["model m is at chance"]


@pytest.mark.slow
def test_a_pretrain_of_two_steps_an_epoch_says_so_and_prints_its_accuracies(cli):
    assert cli("prepare-data", "--dataset", "digits").exit_code == 0
    result = cli("pretrain", "--model", "cnn", "--width", "0.25", "--batch-size", "512", "--epochs", "1")
    assert result.exit_code == 0, result.stderr
    said = " ".join(result.stderr.split())  # the warning wraps at the console's width
    assert "optimiser steps (batch 512 over" in said
    assert "--batch-size 128" in said
    lines = [line for line in result.stderr.splitlines() if line.startswith("pretrain digits-cnn") and ": train " in line]
    assert len(lines) == 1 and ", test " in lines[0], result.stderr
