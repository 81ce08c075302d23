"""Helpers of the ssd, salun and boundary tests (their fixtures are in surgery_fixtures.py)."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import Cli
from unlearn_cli.artifacts import Workspace

# The values docs/metrics.md gives a sample-wise run evaluated with --reference.
SPEC6_METRICS = {"FA", "RA", "TA", "UA", "mia_entropy", "mia_confidence", "mia_confidence_spread", "mia_loss",
                 "avg_gap", "tow", "kl_forget", "kl_test", "rte"}


def run_ok(cli: Cli, *args: str):
    result = cli(*args)
    assert result.exit_code == 0, (args, result.stderr)
    return result


def artifacts_of(ws: Workspace) -> set[Path]:
    """Every file in the workspace, for checking that a failed run left nothing behind."""
    return {p.relative_to(ws.root) for p in ws.root.rglob("*") if p.is_file()}
