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


@pytest.mark.parametrize("command", COMMANDS + ["tune"])
def test_at_80_columns_no_help_text_is_cut(command):
    text = help_text(command)
    lines = text.splitlines()
    cut = [line for line in lines[1:] if line.rstrip().endswith(("…", "..."))]  # the usage line's "ARGS..." is no cut
    assert not cut
    assert max(len(line) for line in lines) <= 80
    if "--workspace" in text and command != "demo":  # demo's own folder option has no variable
        assert "UNLEARN_WORKSPACE" in text  # a long word kept whole, not "UNLEARN_WORKSPAC…"


def test_the_command_list_names_every_command_on_one_uncut_line():
    text = help_text()
    for command in COMMANDS + ["tune"]:
        [line] = [line for line in text.splitlines() if line.strip().startswith(f"{command} ")]
        assert not line.rstrip().endswith("...") and len(line) <= 80, line


def test_a_wide_terminal_keeps_the_rich_panels():
    result = CliRunner().invoke(app, ["pretrain", "--help"], env={"COLUMNS": "120", "TERM": "dumb"})
    assert "╭─ Options" in result.output
