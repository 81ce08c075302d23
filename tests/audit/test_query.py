"""The query step: float32 logits equal to a direct fp32 forward pass, flip 1 the mirror image,
the samples and accuracies recorded, a deterministic name, reuse and a damaged file."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tests.steps.pipeline import copy_workspace, prepared, pretrained
from unlearn_cli.artifacts import Workspace, load_tensors
from unlearn_cli.data.prepared import DatasetInfo, load_split
from unlearn_cli.steps.common import load_weights, model_info
from unlearn_cli.steps.forget_set import make_forget_set
from unlearn_cli.steps.options import ForgetSetOptions, QueryOptions, UnlearnOptions
from unlearn_cli.steps.query import logits_path, query
from unlearn_cli.steps.unlearn import unlearn
from unlearn_cli.sweep.plan import Node
from unlearn_cli.sweep.status import DONE, REDO, artifact_state
from unlearn_cli.train.options import GenericOptions

ROWS = (3, 17, 40, 41, 200)


@pytest.fixture(scope="module")
def unlearned_workspace(tmp_path_factory) -> Workspace:
    ws = prepared(tmp_path_factory.mktemp("query") / "ws")
    pretrained(ws, width=0.25, epochs=2)
    make_forget_set(ws, ForgetSetOptions(model="digits-cnn-s0", kind="per", params={"per": 1}, device="cpu"))
    unlearn(ws, UnlearnOptions(method="finetune", forget="digits-cnn-s0-per1-s0", device="cpu",
                               generic=GenericOptions(epochs=1)))
    return ws


@pytest.fixture
def ws(unlearned_workspace, tmp_path) -> Workspace:
    return copy_workspace(unlearned_workspace, tmp_path / "ws")


def _direct(ws: Workspace, run_kind: str, run: str, rows: np.ndarray, flip: bool) -> np.ndarray:
    manifest = ws.read(run_kind, run)
    dataset = ws.read("dataset", "digits")
    seen = model_info(ws, manifest, DatasetInfo.from_manifest(dataset))
    images = load_split(ws, dataset, "train").images[rows]  # (N, H, W, C) uint8
    x = torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255.0
    x = (x - torch.tensor(seen.mean).view(1, -1, 1, 1)) / torch.tensor(seen.std).view(1, -1, 1, 1)
    if flip:
        x = torch.flip(x, dims=(-1,))
    model = load_weights(ws, manifest, torch.device("cpu")).eval()
    with torch.no_grad():
        return model(x).numpy()


def test_logits_equal_a_direct_fp32_forward_pass_and_its_flip(ws):
    run = "digits-cnn-s0-per1-s0-finetune-s0"
    path = query(ws, QueryOptions(run=run, rows=ROWS, retain=(0, 1, 2), test=(5, 6), device="cpu"))
    manifest = ws.read("query", path)
    assert manifest.name == QueryOptions(run=run, rows=ROWS, retain=(0, 1, 2), test=(5, 6)).default_name()
    assert manifest.parents["run"] == ws.parent_ref(ws.read("unlearned", run))
    arrays = load_tensors(logits_path(ws, manifest.name))
    rows = np.asarray(ROWS)
    assert arrays["logits"].dtype == torch.float32 and arrays["logits"].shape == (5, 2, 10)
    np.testing.assert_allclose(arrays["logits"][:, 0].numpy(), _direct(ws, "unlearned", run, rows, False),
                               rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(arrays["logits"][:, 1].numpy(), _direct(ws, "unlearned", run, rows, True),
                               rtol=1e-5, atol=1e-5)
    assert not np.allclose(arrays["logits"][:, 0].numpy(), arrays["logits"][:, 1].numpy())
    np.testing.assert_allclose(arrays["retain_logits"].numpy(), _direct(ws, "unlearned", run, np.arange(3), False),
                               rtol=1e-5, atol=1e-5)
    assert arrays["test_rows"].tolist() == [5, 6]
    assert arrays["test_logits"].shape == (2, 10)
    for key in ("retain_accuracy", "test_accuracy", "forget_accuracy"):
        assert 0 <= manifest.summary[key] <= 100


def test_a_model_can_be_queried_and_a_damaged_query_is_redone(ws):
    options = QueryOptions(run="digits-cnn-s0", rows=ROWS, device="cpu")
    path = query(ws, options)
    node = Node("query", "query", options.default_name(), options)
    assert artifact_state(ws, node) == DONE
    logits = logits_path(ws, options.default_name())
    logits.write_bytes(logits.read_bytes()[:-8] + b"\0" * 8)
    assert artifact_state(ws, node) == REDO  # the sweep engine makes it again (force)
    assert path.exists()
