"""Paths a user typed: options, grid files, lines on stdin."""

from __future__ import annotations

import os
from pathlib import Path


def user_path(text: str | os.PathLike[str]) -> Path:
    """`text` as a path, `~` and `~user` expanded where this system knows that home. A home
    it does not know (`~nobody/x`, or `~` without $HOME) leaves the path as typed, so it is
    then simply not found, with the step's own error, instead of crashing the command."""
    path = Path(text)
    try:
        return path.expanduser()
    except RuntimeError:
        return path
