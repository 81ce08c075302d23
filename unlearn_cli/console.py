"""The one stderr console shared by the CLI and library progress bars (stdout stays clean)."""

from __future__ import annotations

from functools import lru_cache

from rich.console import Console


@lru_cache(maxsize=1)
def stderr_console() -> Console:
    return Console(stderr=True)
