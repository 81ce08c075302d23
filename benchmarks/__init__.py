"""Benchmarks of the toolkit against the way its seed repositories do the same work.

Run a benchmark as a module from the repository root, e.g.
`python -m benchmarks.pretrain_throughput --help`. Figures are recorded in BENCHMARKS.md.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

from unlearn_cli.errors import UnlearnError


def run_cli(main: Callable[[], Any]) -> int:
    """A benchmark's command-line entry: a user error (a bad option value, a missing file)
    is one `Error:` line and its hint on stderr and exit code 1, not a traceback."""
    try:
        main()
    except UnlearnError as error:
        print(f"Error: {error.message}" + (f"\n  hint: {error.hint}" if error.hint else ""), file=sys.stderr)
        return 1
    return 0
