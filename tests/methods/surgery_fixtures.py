"""Workspaces for the tests of ssd, salun and the boundary methods (session-scoped, so the
tiny models train once; tests copy them before writing).

`surgery_digits`: digits, the tiny cnn `digits-cnn-s0`, the forget set `f10` (10 % random)
and its (one-epoch) `retrain` run `f10-retrain-s0`. `surgery_cifar10`: a 50-image CIFAR-10-format source,
resnet18 at width 0.125 pretrained for 5 steps, the forget set `cf` (20 %) and its retrain run.
A test module uses them with `pytest_plugins = ["tests.methods.surgery_fixtures"]`."""

from __future__ import annotations

import pytest

from tests.conftest import Cli
from tests.fixtures.formats import write_cifar10
from tests.methods.surgery_helpers import run_ok
from tests.steps.pipeline import copy_workspace, prepared, pretrained
from unlearn_cli.artifacts import Workspace


@pytest.fixture(scope="session")
def surgery_digits(tmp_path_factory) -> Workspace:
    ws = prepared(tmp_path_factory.mktemp("surgery-digits") / "ws")
    pretrained(ws)
    cli = Cli(ws)
    run_ok(cli, "make-forget-set", "--model", "digits-cnn-s0", "--per", "10", "--name", "f10")
    # The reference run only has to exist and be a retrain run: one epoch keeps the fixture quick.
    run_ok(cli, "unlearn", "--method", "retrain", "--forget", "f10", "--epochs", "1", "--device", "cpu")
    return ws


@pytest.fixture(scope="session")
def surgery_cifar10(tmp_path_factory) -> Workspace:
    root = tmp_path_factory.mktemp("surgery-cifar10")
    source = write_cifar10(root / "source", per_batch=10, n_test=20)
    ws = Workspace.at(root / "ws")
    cli = Cli(ws)
    run_ok(cli, "prepare-data", "--dataset", "cifar10", "--source", str(source))
    run_ok(cli, "pretrain", "--dataset", "cifar10", "--model", "resnet18", "--width", "0.125", "--steps", "5",
           "--device", "cpu")
    run_ok(cli, "make-forget-set", "--model", "cifar10-resnet18-w0.125-steps5-s0", "--fraction", "0.2", "--name", "cf")
    run_ok(cli, "unlearn", "--method", "retrain", "--forget", "cf", "--steps", "2", "--device", "cpu")
    return ws


@pytest.fixture
def digits_cli(surgery_digits, tmp_path) -> Cli:
    """The CLI on a private copy of `surgery_digits`."""
    return Cli(copy_workspace(surgery_digits, tmp_path / "ws"))


@pytest.fixture
def cifar10_cli(surgery_cifar10, tmp_path) -> Cli:
    return Cli(copy_workspace(surgery_cifar10, tmp_path / "ws"))
