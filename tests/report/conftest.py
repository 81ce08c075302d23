import pytest

from tests.report.fixtures import Chain


@pytest.fixture
def chain(ws) -> Chain:
    return Chain(ws)
