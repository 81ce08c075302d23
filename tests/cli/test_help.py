"""Help text at a common terminal width: flags show no value placeholder."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from unlearn_cli.cli.app import app

COMMANDS = ["prepare-data", "pretrain", "make-forget-set", "unlearn", "evaluate", "report", "sweep", "audit",
            "demo", "ls"]


def help_text(*args: str) -> str:
    result = CliRunner().invoke(app, [*args, "--help"], env={"COLUMNS": "80", "TERM": "dumb"})
    assert result.exit_code == 0, result.output
    return result.output


@pytest.mark.parametrize("command", COMMANDS)
def test_a_flag_shows_no_bool_placeholder(command):
    assert "<bool>" not in help_text(command)


def test_the_global_options_show_no_bool_placeholder_either():
    text = help_text()
    assert "--verbose" in text and "--threads" in text
    assert "<bool>" not in text
