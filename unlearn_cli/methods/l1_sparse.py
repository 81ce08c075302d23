"""`l1_sparse`: fine-tune on D_r with CE + α_e·‖θ‖₁, α_e decaying linearly per epoch from α
to 0 (Unlearn-Sparse's `FT_l1`: α_e = α·(1 − e/E) in epoch e of E, 0-based)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from unlearn_cli.data.loader import Batch
from unlearn_cli.errors import InputError
from unlearn_cli.methods.base import Unlearned, register_method, sgd
from unlearn_cli.methods.context import UnlearnContext
from unlearn_cli.methods.losses import ce_loss
from unlearn_cli.space import integers, log_uniform
from unlearn_cli.train.loop import StepOutput


@dataclass(frozen=True)
class L1SparseParams:
    alpha: float = 5e-4  # the l1 weight at the first epoch (the sparsity paper searches it)

    def __post_init__(self) -> None:
        if not self.alpha >= 0:
            raise InputError(f"l1_sparse alpha={self.alpha} is negative", hint="e.g. --param alpha=5e-4")


def l1_weight(alpha: float, epoch: int, epochs: int) -> float:
    """α_e of epoch `epoch` (0-based) of `epochs`: α at the first epoch, falling linearly."""
    return alpha * (1.0 - epoch / epochs)


def l1_norm(model: nn.Module) -> torch.Tensor:
    """‖θ‖₁ over every parameter, in float32."""
    return sum(p.float().abs().sum() for p in model.parameters())


def l1_objective(alpha: float, steps_per_epoch: int, epochs: int):
    def objective(model: nn.Module, batch: Batch, step: int) -> StepOutput:
        weight = l1_weight(alpha, step // steps_per_epoch, epochs)
        return StepOutput(ce_loss(model(batch.x), batch.y) + weight * l1_norm(model))

    return objective


@register_method(
    "l1_sparse",
    description="fine-tune on D_r with CE + alpha_e*||theta||_1, alpha_e decaying linearly per epoch",
    params=L1SparseParams, recipe=sgd(0.01, epochs=10),
    space={"lr": log_uniform(1e-4, 1e-1), "epochs": integers(1, 10), "alpha": log_uniform(1e-5, 1e-2)},
    reference="Unlearn-Sparse unlearn/FT.py FT_l1",
)
def l1_sparse(ctx: UnlearnContext, params: L1SparseParams) -> Unlearned:
    loader = ctx.loader(ctx.retain_rows, purpose="retain")
    total = ctx.training.recipe.total_steps(loader)
    epochs = math.ceil(total / len(loader))
    ctx.fit(ctx.model, loader, l1_objective(params.alpha, len(loader), epochs))
    return Unlearned(ctx.model)
