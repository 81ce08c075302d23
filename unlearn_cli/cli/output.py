"""stdout carries only the paths of written manifests (or --json); everything else is stderr."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Any

from rich.logging import RichHandler

from unlearn_cli.console import stderr_console

stderr = stderr_console()


def emit_path(path: Path) -> None:
    """The shell-pipe contract: one manifest path per line on stdout, nothing else."""
    sys.stdout.write(f"{path}\n")
    sys.stdout.flush()


def emit_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str, allow_nan=True) + "\n")
    sys.stdout.flush()


def setup_logging(verbose: bool) -> None:
    root = logging.getLogger("unlearn_cli")
    root.handlers.clear()
    handler = RichHandler(console=stderr, show_time=False, show_path=False, markup=False)
    root.addHandler(handler)
    root.setLevel(logging.INFO if verbose else logging.WARNING)
    root.propagate = False
