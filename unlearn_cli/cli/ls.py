"""`unlearn ls`: list what the registries hold."""

from __future__ import annotations

from enum import Enum
from typing import Annotated

import typer
from rich.table import Table

from unlearn_cli.catalog import catalog
from unlearn_cli.cli.output import stderr


class Listing(str, Enum):
    datasets = "datasets"
    models = "models"
    forget_kinds = "forget-kinds"
    metrics = "metrics"
    methods = "methods"
    presets = "presets"
    recipes = "recipes"
    manipulations = "manipulations"
    trackers = "trackers"


CHOICES = ", ".join(item.value for item in Listing)


def _listing(value: str) -> Listing:
    try:
        return Listing(value)
    except ValueError:
        raise typer.BadParameter(f"'{value}' is not one of {CHOICES}") from None


def ls(
    # A plain string checked by the callback: the choices are in the help text, which wraps, not in
    # the "<a|b|…>" type placeholder an Enum gets, which an 80-column terminal cannot fit.
    what: Annotated[str, typer.Argument(
        metavar="WHAT", callback=_listing,
        help=f"Which registry to list: {CHOICES}.")],
) -> None:
    """List registered names, one per line on stdout (a description table on stderr).

    Example: unlearn ls methods
    """
    rows = catalog(what.value)
    table = Table(title=what.value, show_header=True, header_style="bold")
    table.add_column("name")
    table.add_column("description")
    for name, description in rows:
        table.add_row(name, description)
    if stderr.is_terminal:
        stderr.print(table)
    for name, _ in rows:
        typer.echo(name)
