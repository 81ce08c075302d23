"""Names are matched whole (no trailing newline), and an empty --name is an error
rather than the default name (an unset shell variable must not pick, or replace, it)."""

from __future__ import annotations

import pytest

from tests.conftest import assert_one_line_error

TINY = ("--epochs", "1", "--width", "0.25", "--device", "cpu")


@pytest.mark.parametrize("name", ["nl\n", ""], ids=["trailing-newline", "empty"])
def test_pretrain_refuses_the_name_before_training(cli, trained_ws, name):
    cli.workspace = trained_ws
    before = trained_ws.read("model", "digits-cnn-s0").files
    result = cli("pretrain", *TINY, "--name", name, "--force")
    assert_one_line_error(result, f"invalid artifact name {name!r}")
    assert trained_ws.names("model") == ["digits-cnn-s0"]
    assert trained_ws.read("model", "digits-cnn-s0").files == before  # the default was not replaced


@pytest.mark.parametrize("name", ["nl\n", ""], ids=["trailing-newline", "empty"])
def test_make_forget_set_and_evaluate_refuse_it_too(cli, trained_ws, name):
    cli.workspace = trained_ws
    result = cli("make-forget-set", "--model", "digits-cnn-s0", "--per", "10", "--name", name)
    assert_one_line_error(result, f"invalid artifact name {name!r}")
    assert cli("make-forget-set", "--model", "digits-cnn-s0", "--per", "10").exit_code == 0
    result = cli("evaluate", "--run", "digits-cnn-s0", "--forget", "digits-cnn-s0-per10-s0", "--name", name)
    assert_one_line_error(result, f"invalid artifact name {name!r}")
    assert trained_ws.names("evaluation") == []
