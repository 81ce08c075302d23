"""How help renders: a flag takes no value, so its row shows no `<bool>` type placeholder; and
a terminal narrower than RICH_MIN_COLUMNS gets click's plain two-column help, since rich's
five-column option table leaves the help text ~18 characters there and cuts long words
("UNLEARN_WORKSPAC…")."""

from __future__ import annotations

from collections.abc import Sequence

import click
from rich.console import Console
from typer.core import TyperCommand

RICH_MIN_COLUMNS = 100


def no_flag_placeholder(params: Sequence[click.Parameter]) -> list[click.Parameter]:
    for param in params:
        # Typer's option class is not click's, so ask what a parameter is rather than its type.
        if getattr(param, "is_flag", False) and getattr(param, "metavar", "") is None:
            param.metavar = ""
    return list(params)


class FitsTheTerminal:
    """Help as rich panels on a wide terminal, Typer's plain (click) help on a narrow one.
    Mixed into the app's group and every subcommand's class."""

    rich_markup_mode: str | None

    def format_help(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # The width of the stdout help goes to, now (COLUMNS or the terminal): not the cached
        # stderr console's, which keeps the width of the moment it was made.
        if Console().width >= RICH_MIN_COLUMNS:
            super().format_help(ctx, formatter)  # type: ignore[misc]
            return
        mode, self.rich_markup_mode = self.rich_markup_mode, None
        try:
            super().format_help(ctx, formatter)  # type: ignore[misc]
        finally:
            self.rich_markup_mode = mode


class Command(FitsTheTerminal, TyperCommand):
    """Every subcommand's class (`app.command(..., cls=Command)`)."""

    def get_params(self, ctx: click.Context) -> list[click.Parameter]:
        return no_flag_placeholder(super().get_params(ctx))
