"""Typed errors: everything a user can get wrong raises a subclass of `UnlearnError`.

Library code never prints or exits; the CLI maps these to one red `Error:` line, an
optional hint, and exit code 1 (see `unlearn_cli.cli.errors`).
"""

from __future__ import annotations

_SHOWN_MAX = 200  # characters of a user's text quoted in an error line


def shown(text: str) -> str:
    """A user's text as an error line quotes it: control characters escaped (no raw NUL or
    terminal escape reaches the screen) and cut at 200 characters."""
    text = str(text)
    text = text if text.isprintable() else repr(text)[1:-1]
    return text if len(text) <= _SHOWN_MAX else f"{text[:_SHOWN_MAX]}…"


class UnlearnError(Exception):
    """Base class of every error caused by user input or user files."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if self.hint is None else f"{self.message} ({self.hint})"


class InputError(UnlearnError):
    """A command-line value or parameter that is invalid (unknown name, out of range)."""


class UnknownNameError(InputError):
    """A name that no registry holds; the hint lists the valid ones."""


class DataError(UnlearnError):
    """A dataset source that is missing, unreadable, corrupt, unsafe or of the wrong layout."""


class ArtifactError(UnlearnError):
    """A workspace artifact that is missing, invalid, or fails its checksum."""


class ArtifactExistsError(ArtifactError):
    """An artifact of that name exists already and `--force` was not given."""


class ArtifactBusyError(ArtifactError):
    """Another process holds the artifact's lock: it is making that artifact right now."""


class ModelError(UnlearnError):
    """A model that cannot be built for the data (e.g. an image too small)."""


class TrainingError(UnlearnError):
    """Training that cannot continue (NaN loss, nothing to resume, changed settings)."""
