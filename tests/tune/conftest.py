"""A digits workspace to tune on: a quarter-width cnn pretrained with a 10 % validation split,
and its random 10 % forget set. Trained once per test process; tests copy it."""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest

from tests.steps.pipeline import copy_workspace, prepared, pretrained
from unlearn_cli.artifacts import Workspace
from unlearn_cli.steps.forget_set import make_forget_set
from unlearn_cli.steps.options import ForgetSetOptions

MODEL = "digits-cnn-val0.1-s0"
FORGET = f"{MODEL}-frac0.1-s0"


@pytest.fixture(scope="session")
def tune_workspace(tmp_path_factory) -> Workspace:
    ws = prepared(tmp_path_factory.mktemp("tune") / "ws")
    pretrained(ws, width=0.25, epochs=4, val_fraction=0.1, name=MODEL)
    make_forget_set(ws, ForgetSetOptions(model=MODEL, kind="fraction", params={"fraction": 0.1}, device="cpu"))
    return ws


@pytest.fixture
def tws(tune_workspace, tmp_path) -> Workspace:
    return copy_workspace(tune_workspace, tmp_path / "ws")


class SplitGuard:
    """Fails any read of a prepared test split outside `evaluate` (and counts those inside)."""

    def __init__(self, monkeypatch) -> None:
        import unlearn_cli.data.prepared as prepared_module
        import unlearn_cli.steps.evaluate as evaluate_module

        self.allowed = False
        self.reads_in_evaluate = 0
        real_load, real_evaluate = prepared_module.load_tensors, evaluate_module.evaluate

        def load_tensors(path: Path, *args, **kwargs):
            if Path(path).name == "test.safetensors":
                if not self.allowed:
                    raise AssertionError(f"the test split was read outside evaluate: {path}")
                self.reads_in_evaluate += 1
            return real_load(path, *args, **kwargs)

        def evaluate(*args, **kwargs):
            with self.allow():
                return real_evaluate(*args, **kwargs)

        monkeypatch.setattr(prepared_module, "load_tensors", load_tensors)
        monkeypatch.setattr(evaluate_module, "evaluate", evaluate)

    @contextlib.contextmanager
    def allow(self):
        self.allowed = True
        try:
            yield
        finally:
            self.allowed = False


@pytest.fixture
def test_split_guard(monkeypatch) -> SplitGuard:
    return SplitGuard(monkeypatch)
