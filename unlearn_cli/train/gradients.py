"""Forward/backward passes that collect gradients without an optimiser step.

Some methods need statistics of the gradient rather than training: SSD's per-parameter
importances (a statistic of each batch's gradient, averaged over batches), SalUn's saliency
(the gradient summed over D_f), and the input gradient of an FGSM step (boundary shrink).
These passes never touch `.grad` of the parameters (they use `torch.autograd.grad`), never
step an optimiser, and run the model in eval mode, as the reference implementations do, so
BatchNorm statistics stay put; the model's train/eval mode is restored afterwards.

With `amp` (the run's bf16 speed switch) the forward pass runs under bf16 autocast, as in
training; the loss is computed from float32 logits, the backward pass runs outside autocast,
and every statistic is accumulated in float32.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator
from typing import Protocol

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from unlearn_cli.errors import TrainingError
from unlearn_cli.train.device import autocast

BatchLoss = Callable[[Tensor, Tensor], Tensor]
"""(logits, labels) -> the scalar loss of one batch."""

Statistic = Callable[[Tensor], Tensor]
"""A per-batch gradient -> what is accumulated of it (the gradient itself, its square, …)."""


class LabelledBatch(Protocol):
    x: Tensor
    y: Tensor


def batch_cross_entropy(logits: Tensor, labels: Tensor) -> Tensor:
    """The batch-mean cross-entropy (PyTorch's default reduction), in float32."""
    return F.cross_entropy(logits.float(), labels)


def squared_logit_norm(logits: Tensor, labels: Tensor) -> Tensor:
    """LF-SSD's label-free loss: the squared L2 norm of each row's logits, averaged over the
    batch (`torch.norm(out, p="fro", dim=1).pow(2).mean()`); the labels are ignored."""
    del labels
    return logits.float().pow(2).sum(dim=1).mean()


@contextlib.contextmanager
def eval_mode(model: nn.Module) -> Iterator[nn.Module]:
    """The model in eval mode for the block, then back in the mode it was in."""
    was_training = model.training
    model.eval()
    try:
        yield model
    finally:
        model.train(was_training)


def summed_gradient_statistic(model: nn.Module, batches: Iterable[LabelledBatch], loss: BatchLoss,
                              statistic: Statistic = lambda g: g, *,
                              amp: bool = False) -> tuple[dict[str, Tensor], int]:
    """For every named parameter, the sum over batches of `statistic(∂ loss(batch) / ∂θ)`
    (float32, on the parameter's device), and the number of batches. A parameter the loss
    does not reach, or that does not require grad, contributes zeros. Eval mode; no `.grad`
    is written."""
    totals = {name: torch.zeros_like(p, dtype=torch.float32) for name, p in model.named_parameters()}
    named = [(name, p) for name, p in model.named_parameters() if p.requires_grad]
    if not named:
        raise TrainingError("the model has no parameters that require gradients")
    count = 0
    device = named[0][1].device
    with eval_mode(model):
        for batch in batches:
            with autocast(device, amp):
                value = loss(model(batch.x), batch.y)
            grads = torch.autograd.grad(value, [p for _, p in named], allow_unused=True)
            with torch.no_grad():
                for (name, _), grad in zip(named, grads):
                    if grad is not None:
                        totals[name] += statistic(grad.float())
            count += 1
    return totals, count


def mean_gradient_statistic(model: nn.Module, batches: Iterable[LabelledBatch], loss: BatchLoss,
                            statistic: Statistic, *, amp: bool = False) -> dict[str, Tensor]:
    """`statistic` of each batch's gradient, averaged over the batches (SSD's importances:
    the sum divided by the number of batches, as `calc_importance` divides by
    `len(dataloader)`)."""
    totals, count = summed_gradient_statistic(model, batches, loss, statistic, amp=amp)
    if count == 0:
        raise TrainingError("there are no batches to compute gradients on", hint="the set is empty")
    return {name: total / count for name, total in totals.items()}


def input_gradient(model: nn.Module, x: Tensor, y: Tensor, loss: BatchLoss = batch_cross_entropy) -> Tensor:
    """∂ loss(model(x), y) / ∂x for a batch (float32, as x), without touching the
    parameters' `.grad` (the model's own mode is used: pass an eval-mode model for FGSM).
    The forward pass keeps the caller's autocast state: inside a training objective that is
    the loop's, so FGSM runs with the run's speed switches."""
    x = x.detach().requires_grad_(True)
    with torch.enable_grad():
        (grad,) = torch.autograd.grad(loss(model(x), y), [x])
    return grad
