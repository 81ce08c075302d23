"""Workspaces for method tests: digits with a tiny pretrained model and a 10 % forget set.

Pretraining is the slow part, so session fixtures train once and tests copy the workspace."""

from __future__ import annotations

import pytest

from tests.methods.runs import BN_MODEL, FORGET, MODEL, make_workspace
from tests.steps.pipeline import copy_workspace
from unlearn_cli.artifacts import Workspace


@pytest.fixture(scope="session")
def methods_workspace(tmp_path_factory) -> Workspace:
    """digits, the tiny GroupNorm cnn `digits-cnn-s0` and its 10 % forget set `f10`: read-only."""
    return make_workspace(tmp_path_factory.mktemp("methods") / "ws", model=MODEL)


@pytest.fixture
def mws(methods_workspace, tmp_path) -> Workspace:
    """A private copy a test may write to."""
    return copy_workspace(methods_workspace, tmp_path / "ws")


@pytest.fixture(scope="session")
def bn_workspace(tmp_path_factory) -> Workspace:
    """digits with a tiny BatchNorm resnet18 (`digits-resnet18-s0`) and its forget set `f10`:
    where frozen layers must also keep their BatchNorm statistics."""
    return make_workspace(tmp_path_factory.mktemp("bn") / "ws", model=BN_MODEL)


@pytest.fixture
def bnws(bn_workspace, tmp_path) -> Workspace:
    return copy_workspace(bn_workspace, tmp_path / "ws")


__all__ = ["FORGET"]
