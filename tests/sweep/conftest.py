from __future__ import annotations

import pytest

from tests.conftest import Cli
from tests.sweep.helpers import write_grid
from unlearn_cli.artifacts import Workspace


@pytest.fixture(scope="session")
def baseline(tmp_path_factory) -> Workspace:
    """The small grid swept once, uninterrupted, by the local executor: what the other
    executors and a killed-and-resumed sweep must reproduce. Read-only for tests."""
    folder = tmp_path_factory.mktemp("baseline")
    grid = write_grid(folder)
    ws = Workspace.at(folder / "ws")
    result = Cli(ws)("sweep", str(grid), "--jobs", "2", "--threads", "1")
    assert result.exit_code == 0, result.stderr
    return ws
