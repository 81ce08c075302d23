"""Helpers for running methods in tests: the workspace recipe and one call per run."""

from __future__ import annotations

from pathlib import Path

from tests.steps.pipeline import prepared, pretrained
from unlearn_cli.artifacts import Manifest, Workspace
from unlearn_cli.steps.forget_set import make_forget_set
from unlearn_cli.steps.options import ForgetSetOptions, UnlearnOptions
from unlearn_cli.steps.unlearn import unlearn
from unlearn_cli.train.options import GenericOptions

FORGET = "f10"
MODEL = {"model": "cnn", "width": 0.5, "epochs": 6}
BN_MODEL = {"model": "resnet18", "width": 0.125, "epochs": 2}
# Short runs: every method trains for two epochs in the contract tests.
SHORT = GenericOptions(epochs=2)


def make_workspace(root: Path, *, model: dict) -> Workspace:
    ws = prepared(root)
    path = pretrained(ws, **model)
    make_forget_set(ws, ForgetSetOptions(model=path.stem, kind="per", params={"per": 10}, name=FORGET))
    return ws


def run(ws: Workspace, method: str, *, name: str | None = None, generic: GenericOptions | None = None,
        **options) -> Manifest:
    """Run `method` on the workspace's forget set and read back its manifest."""
    path = unlearn(ws, UnlearnOptions(method=method, forget=FORGET, name=name, device="cpu",
                                      generic=generic or GenericOptions(), **options))
    return ws.read("unlearned", path.stem)
