import pytest

from tests.steps.pipeline import copy_workspace, prepared, pretrained
from unlearn_cli.artifacts import Workspace


@pytest.fixture(scope="session")
def trained_workspace(tmp_path_factory) -> Workspace:
    """digits prepared and a tiny cnn `digits-cnn-s0` pretrained: read-only for tests."""
    ws = prepared(tmp_path_factory.mktemp("trained") / "ws")
    pretrained(ws)
    return ws


@pytest.fixture
def trained_ws(trained_workspace, tmp_path) -> Workspace:
    """A private copy of the trained workspace that a test may write to."""
    return copy_workspace(trained_workspace, tmp_path / "ws")
