"""The Typer app as a user meets it: version, help, `ls`, usage errors and the one error mapping."""

from __future__ import annotations

import pytest

from tests.conftest import assert_one_line_error
from unlearn_cli import __version__
from unlearn_cli.data.sources import DATASETS
from unlearn_cli.errors import DataError, UnknownNameError
from unlearn_cli.forget import FORGET_KINDS
from unlearn_cli.forget.manipulations import MANIPULATIONS
from unlearn_cli.methods import METHODS
from unlearn_cli.methods.presets import PRESETS
from unlearn_cli.metrics import METRICS
from unlearn_cli.models import MODELS
from unlearn_cli.steps import prepare_data as prepare_step
from unlearn_cli.trackers import TRACKERS
from unlearn_cli.train.recipes import RECIPES

SUBCOMMANDS = ["prepare-data", "pretrain", "make-forget-set", "unlearn", "evaluate", "report", "sweep", "demo", "ls"]
REGISTRIES = {
    "datasets": DATASETS,
    "models": MODELS,
    "forget-kinds": FORGET_KINDS,
    "metrics": METRICS,
    "methods": METHODS,
    "presets": PRESETS,
    "recipes": RECIPES,
    "manipulations": MANIPULATIONS,
    "trackers": TRACKERS,
}


def test_version(cli):
    result = cli("--version")
    assert result.exit_code == 0, result.stderr
    assert result.stdout == f"unlearn {__version__}\n"
    assert __version__ == "0.1.0"


def test_distribution_is_unlearn_cli_with_the_unlearn_command():
    # `unlearn` on the package index is an unrelated project: ours installs as unlearn-cli.
    from importlib.metadata import distribution

    dist = distribution("unlearn-cli")
    assert dist.version == __version__
    scripts = {ep.name: ep.value for ep in dist.entry_points if ep.group == "console_scripts"}
    assert scripts == {"unlearn": "unlearn_cli.cli.app:app"}


def test_help_lists_every_subcommand(cli):
    result = cli("--help")
    assert result.exit_code == 0, result.stderr
    for name in SUBCOMMANDS:
        assert name in result.stdout, name


def test_no_arguments_shows_help_as_a_usage_error(cli):
    result = cli()
    assert result.exit_code == 2
    assert "prepare-data" in result.stdout


@pytest.mark.parametrize("command", SUBCOMMANDS)
def test_every_subcommand_help_has_an_example(cli, command):
    result = cli(command, "--help")
    assert result.exit_code == 0, result.stderr
    assert "Example:" in result.stdout or "Examples:" in result.stdout, result.stdout
    # The example names its own subcommand, so it can be copied as it is.
    assert f"unlearn {command}" in " ".join(result.stdout.split())


@pytest.mark.parametrize("listing", sorted(REGISTRIES))
def test_ls_prints_the_registry_names_one_per_line(cli, listing):
    result = cli("ls", listing)
    assert result.exit_code == 0, result.stderr
    names = REGISTRIES[listing].names()
    assert names, listing  # an empty registry would make this test vacuous
    assert result.stdout == "".join(f"{name}\n" for name in names)


def test_ls_unknown_listing_is_a_usage_error(cli):
    result = cli("ls", "bogus")
    assert result.exit_code == 2
    assert result.stdout == ""
    assert "bogus" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("args", [["--bogus"], ["prepare-data", "--bogus"], ["ls"]])
def test_unknown_option_or_missing_argument_is_a_usage_error(cli, args):
    result = cli(*args)
    assert result.exit_code == 2, (result.stdout, result.stderr)
    assert result.stdout == ""
    assert "Traceback" not in result.stderr


def test_unknown_subcommand_is_a_usage_error(cli):
    result = cli("unlearn-everything")
    assert result.exit_code == 2
    assert "unlearn-everything" in result.stderr


def test_user_error_is_one_line_with_a_hint(cli, ws):
    result = cli("prepare-data", "--dataset", "nope")
    assert_one_line_error(result, "unknown dataset 'nope'", "Hint:", *DATASETS.names())
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 2 and lines[1].startswith("Hint: ")
    # Mapped, not propagated: the runner sees only the exit.
    assert isinstance(result.exception, SystemExit) and result.exception.code == 1


def test_debug_env_lets_the_error_propagate_with_its_traceback(cli):
    result = cli("prepare-data", "--dataset", "nope", env={"UNLEARN_DEBUG": "1"})
    assert result.exit_code == 1
    assert isinstance(result.exception, UnknownNameError)
    assert result.exception.message == "unknown dataset 'nope'"
    assert result.exc_info is not None and result.exc_info[2] is not None  # the traceback
    assert "Error:" not in result.stderr  # not mapped: the raw exception is what the user gets


def test_debug_zero_counts_as_off(cli):
    result = cli("prepare-data", "--dataset", "nope", env={"UNLEARN_DEBUG": "0"})
    assert_one_line_error(result, "unknown dataset 'nope'")


def test_internal_error_is_one_line_pointing_at_debug(cli, monkeypatch):
    def broken(ws, options):
        raise RuntimeError("the step fell over")

    monkeypatch.setattr(prepare_step, "prepare_dataset", broken)
    result = cli("prepare-data")
    assert_one_line_error(result, "Error: internal error: RuntimeError: the step fell over",
                          "UNLEARN_DEBUG")
    hint = [line for line in result.stderr.splitlines() if line.startswith("Hint:")]
    assert len(hint) == 1 and "UNLEARN_DEBUG=1" in hint[0]


def test_internal_error_under_debug_propagates(cli, monkeypatch):
    def broken(ws, options):
        raise RuntimeError("the step fell over")

    monkeypatch.setattr(prepare_step, "prepare_dataset", broken)
    result = cli("prepare-data", env={"UNLEARN_DEBUG": "1"})
    assert result.exit_code == 1
    assert isinstance(result.exception, RuntimeError)
    assert "internal error" not in result.stderr


def test_error_message_markup_is_printed_literally(cli, monkeypatch):
    # A file name may contain rich markup characters; the message must show them as they are.
    def broken(ws, options):
        raise DataError("cannot read /data/[bold]x[/bold].tar", hint="check [this]")

    monkeypatch.setattr(prepare_step, "prepare_dataset", broken)
    result = cli("prepare-data")
    assert_one_line_error(result, "cannot read /data/[bold]x[/bold].tar", "Hint: check [this]")


def test_listings_say_where_we_deliberately_differ_from_a_reference():
    from unlearn_cli.catalog import catalog

    poison = dict(catalog("manipulations"))["poison"]
    assert "255" in poison and "before normalisation" in poison and "corrective repo" in poison
    assert all("never selected by test accuracy" in text for _, text in catalog("recipes"))
    assert all("biases zero" in text for _, text in catalog("models") if _ != "cnn")
