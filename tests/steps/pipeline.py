"""Small real pipelines for step tests: the embedded digits set and a tiny cnn.

Pretraining is the slow part, so a session fixture trains once and tests copy its workspace."""

from __future__ import annotations

import shutil
from pathlib import Path

from unlearn_cli.artifacts import Workspace
from unlearn_cli.steps.options import PrepareOptions, PretrainOptions
from unlearn_cli.steps.prepare_data import prepare_dataset
from unlearn_cli.steps.pretrain import pretrain

# A tiny model trained briefly: enough to fit digits well (≈95 % test) in a couple of seconds.
TINY = dict(model="cnn", width=0.5, epochs=6, device="cpu")


def prepared(root: Path) -> Workspace:
    ws = Workspace.at(root)
    prepare_dataset(ws, PrepareOptions(dataset="digits"))
    return ws


def pretrained(ws: Workspace, **overrides) -> Path:
    """The tiny model, named `<dataset>-<model>-s<seed>` unless a name is given (its default
    name would carry its width and epochs: digits-cnn-w0.5-e6-s0)."""
    options = {"dataset": "digits", **TINY, **overrides}
    options.setdefault("name", f"{options['dataset']}-{options['model']}-s{options.get('seed', 0)}")
    return pretrain(ws, PretrainOptions(**options))


def copy_workspace(source: Workspace, target: Path) -> Workspace:
    shutil.copytree(source.root, target)
    return Workspace.at(target)
