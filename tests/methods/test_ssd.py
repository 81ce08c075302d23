"""ssd and LF-SSD: the dampening rule pinned by hand, its invariants on a real model, the CLI,
and every bad parameter."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

import numpy as np
import pytest
import torch
from torch import nn

from tests.conftest import assert_one_line_error
from tests.methods.surgery_helpers import SPEC6_METRICS, artifacts_of, run_ok
from unlearn_cli.artifacts import load_tensors
from unlearn_cli.methods.ssd import SsdParams, dampen_, importances, selective_synaptic_dampening
from unlearn_cli.steps.options import UnlearnOptions
from unlearn_cli.steps.unlearn import prepare

LN2 = math.log(2.0)

# The session workspaces digits_cli and cifar10_cli, shared by the ssd, salun and boundary tests.
pytest_plugins = ["tests.methods.surgery_fixtures"]


@dataclass
class B:
    x: torch.Tensor
    y: torch.Tensor


class TwoWeights(nn.Module):
    """logits = (a·x, b·x, 0) for a scalar input x: two weights whose gradients are easy by hand."""

    def __init__(self, a: float, b: float) -> None:
        super().__init__()
        self.a = nn.Parameter(torch.tensor(a, dtype=torch.float64))
        self.b = nn.Parameter(torch.tensor(b, dtype=torch.float64))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.a * x, self.b * x, torch.zeros_like(x)], dim=1)


def one(x: float, y: int) -> B:
    return B(torch.tensor([[x]], dtype=torch.float64), torch.tensor([y]))


# D_f = {(x=1, y=0)}, D_r = {(x=1, y=1)}; batches of one sample; D is D_r then D_f.
FORGET = [one(1.0, 0)]
WHOLE = [one(1.0, 1), one(1.0, 0)]


def test_hand_computed_two_weight_case_pins_the_dampening():
    # a = b = ln 2: softmax(ln2, ln2, 0) = (2, 2, 1)/5.
    # Forget sample, y=0: dCE/da = 2/5 − 1 = −3/5, dCE/db = 2/5      → I_f = (9/25, 4/25) = (0.36, 0.16)
    # Retain sample, y=1: dCE/da = 2/5, dCE/db = −3/5                → squares (0.16, 0.36)
    # I_D = mean over the two batches = (0.26, 0.26).
    # α = 1.2: α·I_D = 0.312, so a is selected (0.36 > 0.312) and b is not (0.16).
    # λ = 1: a ← a·min(0.26/0.36, 1) = a·13/18;  λ = 2: min(0.52/0.36, 1) = 1, a unchanged.
    model = TwoWeights(LN2, LN2)
    forget_imp = importances(model, FORGET, label_free=False)
    full_imp = importances(model, WHOLE, label_free=False)
    torch.testing.assert_close(forget_imp["a"].double(), torch.tensor(0.36, dtype=torch.float64))
    torch.testing.assert_close(forget_imp["b"].double(), torch.tensor(0.16, dtype=torch.float64))
    torch.testing.assert_close(full_imp["a"].double(), torch.tensor(0.26, dtype=torch.float64))
    torch.testing.assert_close(full_imp["b"].double(), torch.tensor(0.26, dtype=torch.float64))

    assert selective_synaptic_dampening(model, FORGET, WHOLE, SsdParams(alpha=1.2, lam=1.0)) == 1
    assert model.a.item() == pytest.approx(LN2 * 13 / 18, rel=1e-6)
    assert model.b.item() == LN2

    bounded = TwoWeights(LN2, LN2)
    assert selective_synaptic_dampening(bounded, FORGET, WHOLE, SsdParams(alpha=1.2, lam=2.0)) == 1
    assert bounded.a.item() == LN2 and bounded.b.item() == LN2


def test_dampening_rule_by_hand():
    # entry: w, I_f, I_D with α = 0.6, λ = 1
    #   0:  2, 4,   0.2 → selected (4 > 0.12), ×0.05 → 0.1
    #   1:  3, 1,   0.5 → selected (1 > 0.3),  ×0.5  → 1.5
    #   2: −5, 2,   3   → selected (2 > 1.8),  ratio 1.5 bounded by 1 → −5 (would grow unbounded)
    #   3:  4, 0,   0   → not selected (0 > 0 is false) → 4
    layer = nn.Linear(4, 1, bias=False)
    with torch.no_grad():
        layer.weight.copy_(torch.tensor([[2.0, 3.0, -5.0, 4.0]]))
    forget = {"weight": torch.tensor([[4.0, 1.0, 2.0, 0.0]])}
    full = {"weight": torch.tensor([[0.2, 0.5, 3.0, 0.0]])}
    assert dampen_(layer, forget, full, alpha=0.6, lam=1.0) == 3
    torch.testing.assert_close(layer.weight.detach(), torch.tensor([[0.1, 1.5, -5.0, 4.0]]))


def test_alpha_infinity_selects_nothing_even_where_the_full_importance_is_zero():
    layer = nn.Linear(2, 1, bias=False)
    before = layer.weight.detach().clone()
    forget = {"weight": torch.tensor([[5.0, 1.0]])}
    full = {"weight": torch.tensor([[0.0, 1e-3]])}  # ∞·0 is NaN: must not select or poison
    assert dampen_(layer, forget, full, alpha=math.inf, lam=1.0) == 0
    assert torch.equal(layer.weight.detach(), before)


def test_label_free_importance_is_the_absolute_gradient_of_the_squared_logit_norm():
    # ‖(a·x, b·x, 0)‖² = (a² + b²)·x²: d/da = 2a·x², d/db = 2b·x². With a = −ln2, b = 0.5, x = 2
    # (one batch): |grad| = (8 ln2, 4); squared would be (64 ln²2, 16).
    model = TwoWeights(-LN2, 0.5)
    imp = importances(model, [one(2.0, 0)], label_free=True)
    assert imp["a"].item() == pytest.approx(8 * LN2, rel=1e-6)
    assert imp["b"].item() == pytest.approx(4.0, rel=1e-6)


def test_label_free_differs_from_ssd_on_the_same_input():
    # LF-SSD on the hand case: |d/da| = |d/db| = 2 ln2 on every batch, so I_f = I_D and
    # nothing is selected at α = 1.2, where SSD dampens a (see the hand case above).
    ssd, lf = TwoWeights(LN2, LN2), TwoWeights(LN2, LN2)
    selective_synaptic_dampening(ssd, FORGET, WHOLE, SsdParams(alpha=1.2))
    assert selective_synaptic_dampening(lf, FORGET, WHOLE, SsdParams(alpha=1.2, label_free=True)) == 0
    assert lf.a.item() == LN2 and ssd.a.item() != LN2


def _weights(ws, kind: str, name: str) -> dict[str, torch.Tensor]:
    return load_tensors(ws.abs(ws.read(kind, name).files["weights"].path))


@pytest.mark.slow
def test_alpha_infinity_changes_nothing(digits_cli):
    ws = digits_cli.workspace
    run_ok(digits_cli, "unlearn", "--method", "ssd", "--forget", "f10", "--param", "alpha=inf", "--name", "inf",
           "--device", "cpu")
    original, after = _weights(ws, "model", "digits-cnn-s0"), _weights(ws, "unlearned", "inf")
    assert all(torch.equal(original[k], after[k]) for k in original)
    assert ws.read("unlearned", "inf").summary["dampened"] == 0


def test_no_parameter_grows_in_magnitude(digits_cli):
    # α = 0.5, λ = 4 selects many entries with λ·I_D/I_f > 1: only the bound keeps them in place.
    ws = digits_cli.workspace
    params = {"alpha": 0.5, "lam": 4.0}
    ctx = prepare(ws, UnlearnOptions(method="ssd", forget="f10", params=params, device="cpu")).ctx
    whole = np.concatenate([ctx.retain_rows, ctx.forget_rows])
    forget_imp = importances(ctx.model, ctx.eval_loader(ctx.forget_rows, batch_size=128).epoch(0), label_free=False)
    full_imp = importances(ctx.model, ctx.eval_loader(whole, batch_size=128).epoch(0), label_free=False)
    above_one = sum(int(((forget_imp[k] > 0.5 * full_imp[k]) & (4 * full_imp[k] > forget_imp[k])).sum())
                    for k in forget_imp)
    assert above_one > 0  # the case the bound exists for really occurs

    run_ok(digits_cli, "unlearn", "--method", "ssd", "--forget", "f10", "--param", "alpha=0.5", "--param", "lam=4",
           "--name", "grow", "--device", "cpu")
    original, after = _weights(ws, "model", "digits-cnn-s0"), _weights(ws, "unlearned", "grow")
    assert all((after[k].abs() <= original[k].abs()).all() for k in original if original[k].is_floating_point())
    assert any(not torch.equal(after[k], original[k]) for k in original)


@pytest.mark.slow
@pytest.mark.parametrize("workspace, forget, retrain", [("digits_cli", "f10", "f10-retrain-s0"),
                                                        ("cifar10_cli", "cf", "cf-retrain-s0")])
def test_ssd_and_lf_ssd_run_from_the_cli_and_evaluate_completely(request, workspace, forget, retrain):
    cli = request.getfixturevalue(workspace)
    ws = cli.workspace
    for name, extra in (("ssd", []), ("lfssd", ["--param", "label_free=true"])):
        run_ok(cli, "unlearn", "--method", "ssd", "--forget", forget, "--name", name, "--device", "cpu", *extra)
        manifest = ws.read("unlearned", name)
        assert manifest.config["params"]["label_free"] == (name == "lfssd")
        assert manifest.summary["wall_seconds"] > 0 and manifest.summary["steps"] == 0
        metrics = json.loads(run_ok(cli, "evaluate", "--run", name, "--reference", retrain, "--json").stdout)["metrics"]
        assert SPEC6_METRICS <= set(metrics)
    ssd, lf = _weights(ws, "unlearned", "ssd"), _weights(ws, "unlearned", "lfssd")
    assert any(not torch.equal(ssd[k], lf[k]) for k in ssd)


@pytest.mark.parametrize("args, fragments", [
    (["--param", "alpha=0"], ["alpha=0.0 is not positive"]),
    (["--param", "alpha=-1"], ["alpha=-1.0 is not positive"]),
    (["--param", "lam=0"], ["lam=0.0 is not a positive number"]),
    (["--param", "lam=-2"], ["lam=-2.0 is not a positive number"]),
    (["--param", "lam=inf"], ["lam=inf is not a positive number"]),
    (["--param", "batch_size=0"], ["batch_size=0 is not positive"]),
    (["--epochs", "3"], ["--epochs does not apply", "does not train"]),
    (["--batch-size", "64"], ["--batch-size does not apply", "does not train"]),
])
def test_bad_input_is_one_line_and_leaves_nothing(digits_cli, args, fragments):
    before = artifacts_of(digits_cli.workspace)
    assert_one_line_error(digits_cli("unlearn", "--method", "ssd", "--forget", "f10", "--device", "cpu", *args),
                          *fragments)
    assert artifacts_of(digits_cli.workspace) == before
