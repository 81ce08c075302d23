import pytest

from tests.report.fixtures import Chain
from tests.steps.conftest import trained_workspace, trained_ws  # noqa: F401  (the real digits pipeline)


@pytest.fixture
def chain(ws) -> Chain:
    return Chain(ws)
