"""The `unlearn` Typer app: one module per subcommand, errors mapped in one place."""

from __future__ import annotations

import os
from typing import Annotated, Optional

import typer

from unlearn_cli import __version__
from unlearn_cli.cli import audit as audit_cmd
from unlearn_cli.cli import demo as demo_cmd
from unlearn_cli.cli import evaluate as evaluate_cmd
from unlearn_cli.cli import ls as ls_cmd
from unlearn_cli.cli import make_forget_set as make_forget_set_cmd
from unlearn_cli.cli import prepare_data as prepare_data_cmd
from unlearn_cli.cli import pretrain as pretrain_cmd
from unlearn_cli.cli import report as report_cmd
from unlearn_cli.cli import sweep as sweep_cmd
from unlearn_cli.cli import tune as tune_cmd
from unlearn_cli.cli import unlearn as unlearn_cmd
from unlearn_cli.cli.errors import ErrorMappingGroup
from unlearn_cli.cli.help import Command
from unlearn_cli.cli.output import setup_logging
from unlearn_cli.train.threads import ENV as THREADS_ENV

app = typer.Typer(
    name="unlearn",
    cls=ErrorMappingGroup,
    help="Machine-unlearning research toolkit: prepare data, pretrain, pick a forget set, "
    "unlearn, evaluate. Each step writes a manifest and prints its path on stdout.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"unlearn {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="Print the version and exit.")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log progress details on stderr.")] = False,
    threads: Annotated[Optional[int], typer.Option(
        "--threads", min=1, help="CPU threads for torch (default: the cores this process may use; "
        "also UNLEARN_THREADS). Fewer help on a busy machine, e.g. unlearn --threads 1 pretrain ...")] = None,
) -> None:
    setup_logging(verbose)
    if threads is not None:
        os.environ[THREADS_ENV] = str(threads)  # applied where a step resolves its device


# short_help: the one line of the command list (a narrow terminal's plain help cuts longer ones).
app.command("prepare-data", cls=Command, short_help="Prepare a dataset from its official files.")(prepare_data_cmd.prepare_data)
app.command("pretrain", cls=Command, short_help="Train a model from scratch.")(pretrain_cmd.pretrain)
app.command("make-forget-set", cls=Command, short_help="Choose the data to forget, or manipulate the train set.")(make_forget_set_cmd.make_forget_set)
app.command("unlearn", cls=Command, short_help="Unlearn a forget set with one method.")(unlearn_cmd.unlearn)
app.command("evaluate", cls=Command, short_help="Measure forgetting, against a retrain reference.")(evaluate_cmd.evaluate)
app.command("report", cls=Command, short_help="Tables and plots over many evaluations and audits.")(report_cmd.report)
app.command("sweep", cls=Command, short_help="Run an experiment grid, each step once.")(sweep_cmd.sweep)
app.command("audit", cls=Command, short_help="Per-example audit: U-LiRA, the ε score and KLoM.")(audit_cmd.audit)
app.command("tune", cls=Command, short_help="Search a method's hyperparameters on validation.")(tune_cmd.tune)
app.command("demo", cls=Command, short_help="The whole pipeline on the embedded digits set.")(demo_cmd.demo)
app.command("ls", cls=Command, short_help="List registered names: models, methods, metrics and more.")(ls_cmd.ls)
