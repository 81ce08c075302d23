"""retrain and the last-k variants: what each trains from, what it sees, what it leaves alone."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tests.methods.runs import run
from unlearn_cli.artifacts import load_tensors
from unlearn_cli.methods.context import UnlearnContext
from unlearn_cli.models import build_model, last_k_modules
from unlearn_cli.train.options import GenericOptions


@pytest.fixture
def fit_spy(monkeypatch):
    """Records, at the start of `fit`, the model's state and every batch's rows and labels the
    source will yield over the run's epochs."""
    seen: dict = {}
    real_fit = UnlearnContext.fit

    def spy(self, model, source, objective, **kwargs):
        seen["state"] = {k: v.detach().clone() for k, v in model.state_dict().items()}
        seen["trainable"] = {n for n, p in model.named_parameters() if p.requires_grad}
        epochs = self.training.recipe.epochs or 1
        seen["batches"] = [b for e in range(epochs) for b in source.epoch(e)]
        return real_fit(self, model, source, objective, **kwargs)

    monkeypatch.setattr(UnlearnContext, "fit", spy)
    return seen


def _weights(ws, manifest, role="weights"):
    return load_tensors(ws.abs(manifest.files[role].path))


def test_retrain_starts_from_the_init_file_and_never_sees_a_forget_row(mws, fit_spy):
    manifest = run(mws, "retrain", generic=GenericOptions(epochs=2))
    model = mws.read("model", "digits-cnn-s0")
    init = _weights(mws, model, "init")
    assert fit_spy["state"].keys() == init.keys()
    assert all(torch.equal(fit_spy["state"][k], init[k]) for k in init)
    forget = np.flatnonzero(_forget_mask(mws))
    rows = torch.cat([b.index for b in fit_spy["batches"]]).numpy()
    assert not np.isin(rows, forget).any()
    assert np.unique(rows).size > 0.9 * (len(_forget_mask(mws)) - forget.size)  # D_r is what it trains on
    # The model's own recipe: the one pretrain recorded.
    assert manifest.config["training"]["recipe"]["name"] == model.config["recipe"]["name"]


def _forget_mask(ws):
    from unlearn_cli.artifacts import load_table

    manifest = ws.read("forget-set", "f10")
    return load_table(ws.abs(manifest.files["index"].path)).column("forget").to_numpy(zero_copy_only=False)


def _outside_and_inside(bnws, k):
    arch = bnws.read("model", "digits-resnet18-s0").config["architecture"]
    skeleton = build_model(arch["name"], channels=arch["channels"], image_size=arch["image_size"],
                           num_classes=arch["num_classes"], width=arch["width"])
    inside_ids = {id(t) for m in last_k_modules(skeleton, k) for t in (*m.parameters(), *m.buffers())}
    names = skeleton.state_dict(keep_vars=True)
    inside = {n for n, t in names.items() if id(t) in inside_ids}
    return set(names) - inside, inside


@pytest.mark.slow
@pytest.mark.parametrize(("method", "k"), [("retrain", 3), ("finetune", 3), ("finetune", 1)])
def test_last_k_leaves_everything_else_bit_identical(bnws, fit_spy, method, k):
    """CF-k and EU-k with momentum and weight decay on (SGD 0.9 / 5e-4): every parameter and
    BatchNorm buffer outside the last k layers is bit-identical afterwards."""
    manifest = run(bnws, method, params={"k": k}, generic=GenericOptions(epochs=2))
    assert manifest.config["training"]["recipe"]["optimizer"]["momentum"] == 0.9
    assert manifest.config["training"]["recipe"]["optimizer"]["weight_decay"] > 0
    original = _weights(bnws, bnws.read("model", "digits-resnet18-s0"))
    after = _weights(bnws, manifest)
    outside, inside = _outside_and_inside(bnws, k)
    assert any("running_mean" in n for n in outside)  # the test covers BatchNorm statistics
    for name in outside:
        assert torch.equal(after[name], original[name]), name
    assert any(not torch.equal(after[n], original[n]) for n in inside if after[n].is_floating_point())
    assert fit_spy["trainable"] == {n for n in inside if "running" not in n and "num_batches" not in n}


@pytest.mark.slow
def test_eu_k_reinitialises_the_last_k_from_the_init_file(bnws, fit_spy):
    manifest = run(bnws, "retrain", params={"k": 3})
    init = _weights(bnws, bnws.read("model", "digits-resnet18-s0"), "init")
    _, inside = _outside_and_inside(bnws, 3)
    for name in inside:
        assert torch.equal(fit_spy["state"][name], init[name]), name
    assert manifest.summary["steps"] == 1000  # EU-k's default length
    assert manifest.config["training"]["recipe"]["steps"] == 1000


def test_invalid_k_lists_the_valid_ones(bnws):
    from unlearn_cli.errors import InputError

    with pytest.raises(InputError) as error:
        run(bnws, "finetune", params={"k": 2})
    assert "k=2" in error.value.message and "1, 3, 5" in error.value.hint
