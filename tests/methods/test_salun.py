"""salun: the global saliency mask, exact freezing under momentum and weight decay, the CLI,
and every bad threshold."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest
import torch
from torch import nn

from tests.conftest import assert_one_line_error
from tests.methods.surgery_helpers import SPEC6_METRICS, artifacts_of, run_ok
from unlearn_cli.artifacts import load_tensors
from unlearn_cli.methods.salun import global_top_fraction, saliency_mask
from unlearn_cli.steps.options import UnlearnOptions
from unlearn_cli.steps.unlearn import prepare
from unlearn_cli.train.options import GenericOptions

# The session workspaces digits_cli and cifar10_cli, shared by the ssd, salun and boundary tests.
pytest_plugins = ["tests.methods.surgery_fixtures"]


@dataclass
class B:
    x: torch.Tensor
    y: torch.Tensor


def test_the_mask_is_global_not_per_layer():
    # Every score of `a` beats every score of `b`: the global top half is all of `a`; a
    # per-layer top half would take two entries of each.
    scores = {"a": torch.tensor([10.0, 9.0, 8.0, 7.0]), "b": torch.tensor([[1.0, 2.0], [3.0, 4.0]])}
    masks = global_top_fraction(scores, 0.5)
    assert masks["a"].tolist() == [True, True, True, True]
    assert masks["b"].tolist() == [[False, False], [False, False]]
    assert masks["b"].shape == scores["b"].shape


def test_the_mask_takes_exactly_int_n_times_threshold_entries_ties_by_position():
    scores = {"a": torch.ones(3), "b": torch.ones(4)}
    masks = global_top_fraction(scores, 0.5)  # int(7 · 0.5) = 3
    assert masks["a"].tolist() == [True, True, True] and not masks["b"].any()
    assert sum(int(m.sum()) for m in global_top_fraction(scores, 1.0).values()) == 7
    assert sum(int(m.sum()) for m in global_top_fraction(scores, 0.1).values()) == 0  # int(0.7) = 0


def test_saliency_is_the_absolute_value_of_the_summed_gradient():
    # W = 0 (2×2, logits = W x), label 0, so d mean-CE / dW = (−½ x, +½ x) per batch.
    # Batch 1 x = (1, 0.3), batch 2 x = (−1, 0.3): the first column's gradients cancel in the
    # sum (|Σ| = 0, Σ|·| = 1); the second's add up (|Σ| = Σ|·| = 0.3). The top half must be
    # the second column (generate_mask.py takes abs of the accumulated gradient).
    model = nn.Linear(2, 2, bias=False)
    nn.init.zeros_(model.weight)
    batches = [B(torch.tensor([[1.0, 0.3]]), torch.tensor([0])), B(torch.tensor([[-1.0, 0.3]]), torch.tensor([0]))]
    mask = saliency_mask(model, batches, 0.5)
    assert mask["weight"].tolist() == [[False, True], [False, True]]


def _parameters(ws, kind: str, name: str, names: list[str]) -> dict[str, torch.Tensor]:
    tensors = load_tensors(ws.abs(ws.read(kind, name).files["weights"].path))
    return {k: tensors[k] for k in names}


def test_weights_outside_the_mask_stay_bit_identical_under_momentum_and_weight_decay(digits_cli):
    ws = digits_cli.workspace
    threshold = 0.3
    options = UnlearnOptions(method="salun", forget="f10", params={"threshold": threshold}, device="cpu",
                             generic=GenericOptions(epochs=2))
    run = prepare(ws, options)
    optimizer = run.ctx.training.recipe.optimizer
    assert optimizer.name == "sgd" and optimizer.momentum == 0.9 and optimizer.weight_decay == 5e-4
    ctx = run.ctx
    # The run's own mask, recomputed from the same seeded draw of the forget batches.
    masks = saliency_mask(ctx.model, ctx.loader(ctx.forget_rows, purpose="saliency").epoch(0), threshold,
                          amp=ctx.switches.amp)
    names = list(masks)

    run_ok(digits_cli, "unlearn", "--method", "salun", "--forget", "f10", "--param", f"threshold={threshold}",
           "--epochs", "2", "--name", "sal", "--device", "cpu")
    before = _parameters(ws, "model", "digits-cnn-s0", names)
    after = _parameters(ws, "unlearned", "sal", names)
    total = sum(t.numel() for t in before.values())
    assert sum(int(m.sum()) for m in masks.values()) == int(total * threshold)
    for name in names:
        outside = ~masks[name]
        assert torch.equal(after[name][outside], before[name][outside]), name
    changed = sum(int((after[k] != before[k]).sum()) for k in names)
    assert 0 < changed <= threshold * total
    assert ws.read("unlearned", "sal").summary["salient"] == int(total * threshold)


@pytest.mark.slow
@pytest.mark.parametrize("workspace, forget, retrain", [("digits_cli", "f10", "f10-retrain-s0"),
                                                        ("cifar10_cli", "cf", "cf-retrain-s0")])
def test_salun_runs_from_the_cli_and_evaluates_completely(request, workspace, forget, retrain):
    cli = request.getfixturevalue(workspace)
    run_ok(cli, "unlearn", "--method", "salun", "--forget", forget, "--epochs", "1", "--name", "sal",
           "--device", "cpu")
    manifest = cli.workspace.read("unlearned", "sal")
    assert manifest.config["params"] == {"threshold": 0.5, "saliency_batch_size": None, "saliency_clean": False}
    assert manifest.config["training"]["recipe"]["optimizer"]["lr"] == 0.013
    assert manifest.summary["salient_fraction"] == pytest.approx(0.5, abs=1e-3)
    metrics = json.loads(run_ok(cli, "evaluate", "--run", "sal", "--reference", retrain, "--json").stdout)["metrics"]
    assert SPEC6_METRICS <= set(metrics)


@pytest.mark.parametrize("value", ["0", "-0.5", "1.5", "1.0001"])
def test_a_threshold_outside_0_1_is_one_line_and_leaves_nothing(digits_cli, value):
    before = artifacts_of(digits_cli.workspace)
    result = digits_cli("unlearn", "--method", "salun", "--forget", "f10", "--param", f"threshold={value}",
                        "--device", "cpu")
    assert_one_line_error(result, f"threshold={float(value)} is outside (0, 1]")
    assert artifacts_of(digits_cli.workspace) == before


@pytest.mark.slow
def test_threshold_one_is_allowed_and_trains_every_weight(digits_cli):
    run_ok(digits_cli, "unlearn", "--method", "salun", "--forget", "f10", "--param", "threshold=1", "--epochs", "1",
           "--name", "all", "--device", "cpu")
    assert digits_cli.workspace.read("unlearned", "all").summary["salient_fraction"] == 1.0
