"""Gradient passes without an optimiser step: pinned against hand-computed gradients."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
import torch
from torch import nn

from unlearn_cli.errors import TrainingError
from unlearn_cli.train.gradients import (
    batch_cross_entropy,
    input_gradient,
    mean_gradient_statistic,
    squared_logit_norm,
    summed_gradient_statistic,
)


@dataclass
class B:
    x: torch.Tensor
    y: torch.Tensor


def linear(weight: list[list[float]]) -> nn.Linear:
    layer = nn.Linear(len(weight[0]), len(weight), bias=False)
    with torch.no_grad():
        layer.weight.copy_(torch.tensor(weight))
    return layer


def ce_weight_gradient(weight: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """d mean-CE / dW of logits = x Wᵀ, by the closed form (softmax − onehot)ᵀ x / B."""
    p = torch.softmax(x @ weight.T, dim=1)
    p[torch.arange(len(y)), y] -= 1
    return p.T @ x / len(y)


def test_summed_gradients_equal_the_closed_form_per_batch():
    model = linear([[0.3, -0.2], [0.1, 0.4], [-0.5, 0.2]])
    batches = [B(torch.tensor([[1.0, 2.0], [0.5, -1.0]]), torch.tensor([0, 2])),
               B(torch.tensor([[-1.0, 0.5]]), torch.tensor([1]))]
    w = model.weight.detach()
    expected = sum(ce_weight_gradient(w, b.x, b.y) for b in batches)
    totals, count = summed_gradient_statistic(model, batches, batch_cross_entropy)
    assert count == 2
    torch.testing.assert_close(totals["weight"], expected)
    squares, _ = summed_gradient_statistic(model, batches, batch_cross_entropy, torch.square)
    torch.testing.assert_close(squares["weight"], sum(ce_weight_gradient(w, b.x, b.y) ** 2 for b in batches))


def test_mean_divides_by_the_number_of_batches_not_of_samples():
    model = linear([[0.3, -0.2], [0.1, 0.4]])
    batches = [B(torch.tensor([[1.0, 2.0], [0.5, -1.0], [2.0, 0.0]]), torch.tensor([0, 1, 1])),
               B(torch.tensor([[-1.0, 0.5]]), torch.tensor([1]))]
    w = model.weight.detach()
    expected = sum(ce_weight_gradient(w, b.x, b.y).abs() for b in batches) / 2
    mean = mean_gradient_statistic(model, batches, batch_cross_entropy, torch.abs)
    torch.testing.assert_close(mean["weight"], expected)


def test_passes_run_in_eval_mode_write_no_grad_and_restore_the_mode():
    model = nn.Sequential(nn.Linear(2, 2), nn.BatchNorm1d(2), nn.Linear(2, 2))
    model.train()
    stats = {k: v.clone() for k, v in model.state_dict().items()}
    batches = [B(torch.randn(4, 2), torch.tensor([0, 1, 0, 1]))]
    summed_gradient_statistic(model, batches, batch_cross_entropy)
    assert model.training  # restored
    assert all(torch.equal(stats[k], v) for k, v in model.state_dict().items())  # BN statistics unchanged
    assert all(p.grad is None for p in model.parameters())


def test_a_parameter_the_loss_does_not_reach_contributes_zeros():
    model = nn.ModuleDict({"used": linear([[1.0], [2.0]]), "unused": linear([[3.0]])})

    class Wrapper(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.parts = model

        def forward(self, x):
            return self.parts["used"](x)

    totals, _ = summed_gradient_statistic(Wrapper(), [B(torch.ones(1, 1), torch.tensor([0]))], batch_cross_entropy)
    assert torch.equal(totals["parts.unused.weight"], torch.zeros(1, 1))
    assert totals["parts.used.weight"].abs().sum() > 0


def test_no_batches_is_an_error():
    with pytest.raises(TrainingError, match="no batches"):
        mean_gradient_statistic(linear([[1.0]]), [], batch_cross_entropy, torch.square)


def test_squared_logit_norm_by_hand():
    # Rows (1, 2) and (3, 0): squared norms 5 and 9, mean 7; labels play no part.
    logits = torch.tensor([[1.0, 2.0], [3.0, 0.0]])
    assert squared_logit_norm(logits, torch.tensor([0, 1])).item() == 7.0
    assert squared_logit_norm(logits, torch.tensor([1, 0])).item() == 7.0


def test_input_gradient_equals_the_closed_form_and_leaves_parameters_alone():
    model = linear([[0.3, -0.2], [0.1, 0.4], [-0.5, 0.2]])
    x = torch.tensor([[1.0, 2.0], [0.5, -1.0]])
    y = torch.tensor([0, 2])
    p = torch.softmax(x @ model.weight.detach().T, dim=1)
    p[torch.arange(2), y] -= 1
    expected = p @ model.weight.detach() / 2  # d mean-CE / dx = (softmax − onehot) W / B
    torch.testing.assert_close(input_gradient(model, x, y), expected)
    assert model.weight.grad is None and not x.requires_grad
