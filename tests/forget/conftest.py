"""Fixtures for the forget-set tests: tiny synthetic views, no dataset, no model."""

from __future__ import annotations

import pytest

from unlearn_cli.forget import TrainView

from .synthetic import make_fine_view, make_view


@pytest.fixture
def view() -> TrainView:
    return make_view()


@pytest.fixture
def fine_view() -> TrainView:
    return make_fine_view()
