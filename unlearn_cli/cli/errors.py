"""The one place where errors become what a user sees: a red `Error:` line, a hint, exit 1.

Tracebacks are shown only with UNLEARN_DEBUG=1.
"""

from __future__ import annotations

import errno
import os
import sys
from typing import Any

import click
import typer
from rich.markup import escape
from typer.core import TyperGroup

from unlearn_cli.artifacts import lock
from unlearn_cli.cli.help import FitsTheTerminal, no_flag_placeholder
from unlearn_cli.cli.output import stderr
from unlearn_cli.errors import UnlearnError

DEBUG_ENV = "UNLEARN_DEBUG"


def debugging() -> bool:
    return os.environ.get(DEBUG_ENV, "") not in ("", "0")


def report_error(message: str, hint: str | None) -> None:
    stderr.print(f"[bold red]Error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    if hint:
        stderr.print(f"[dim]Hint: {escape(hint)}[/]", highlight=False, soft_wrap=True)


def _os_hint(error: OSError) -> str:
    if error.errno in (errno.ENOSPC, errno.EDQUOT):
        return "the disk is full: free some space on it, or choose another --workspace"
    if error.errno == errno.EFBIG:
        return "the file grew past the system's file-size limit (ulimit -f)"
    return "check the path and its permissions"


class ErrorMappingGroup(FitsTheTerminal, TyperGroup):
    """A Typer group that turns library errors raised by any subcommand into one error line.

    Doing this in the group (not in a `main()` wrapper) means `typer.testing.CliRunner`
    sees exactly what a shell user sees."""

    def get_params(self, ctx: click.Context) -> list[click.Parameter]:
        return no_flag_placeholder(super().get_params(ctx))

    def invoke(self, ctx: typer.Context) -> Any:
        try:
            return self._invoke(ctx)
        finally:
            # A command that failed holds its artifact's lock still; give it back as the
            # end of the process would (a command run in-process, as tests do, continues).
            lock.release_all()

    def _invoke(self, ctx: typer.Context) -> Any:
        try:
            return super().invoke(ctx)
        except UnlearnError as error:
            if debugging():
                raise
            report_error(error.message, error.hint)
            raise typer.Exit(1) from None
        except (typer.Exit, typer.Abort, typer.TyperException):
            raise  # usage errors keep their own formatting and exit code 2
        except BrokenPipeError:
            # `unlearn ... | head`: the reader has gone; that is not an error of ours. Point
            # stdout at /dev/null so the interpreter's final flush cannot complain again.
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            raise typer.Exit(141) from None
        except KeyboardInterrupt:
            report_error("interrupted", None)
            raise typer.Exit(130) from None
        except OSError as error:
            if debugging():
                raise
            report_error(f"{error.strerror or error}: {error.filename or ''}".rstrip(": "), _os_hint(error))
            raise typer.Exit(1) from None
        except Exception as error:  # a bug of ours: still no traceback by default
            if debugging():
                raise
            report_error(f"internal error: {type(error).__name__}: {error}",
                         f"re-run with {DEBUG_ENV}=1 for the traceback and report it")
            raise typer.Exit(1) from None
