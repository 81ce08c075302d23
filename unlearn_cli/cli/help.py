"""How help renders: a flag takes no value, so its row shows no `<bool>` type placeholder,
which also leaves the help text the columns it needs in an 80-column terminal."""

from __future__ import annotations

from collections.abc import Sequence

import click
from typer.core import TyperCommand


def no_flag_placeholder(params: Sequence[click.Parameter]) -> list[click.Parameter]:
    for param in params:
        # Typer's option class is not click's, so ask what a parameter is rather than its type.
        if getattr(param, "is_flag", False) and getattr(param, "metavar", "") is None:
            param.metavar = ""
    return list(params)


class Command(TyperCommand):
    """Every subcommand's class (`app.command(..., cls=Command)`)."""

    def get_params(self, ctx: click.Context) -> list[click.Parameter]:
        return no_flag_placeholder(super().get_params(ctx))
