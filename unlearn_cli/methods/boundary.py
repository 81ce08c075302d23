"""Boundary unlearning (Chen et al.): `boundary_shrink` and `boundary_expand`.

boundary_shrink (OPTML-Group/Unlearn-Saliency `Classification/unlearn/boundary_sh.py`): for
every forget batch, an FGSM step from each image with the frozen original model: x' =
x + bound·sign(∇x CE(x, y)) in [0, 1] pixel units, clamped to [0, 1] and rounded to the
1/255 grid (`FGSM_perturb`, `discretize`); the original model's prediction on x', with the
true class excluded (docs/methods.md; the reference takes the plain arg-max), is the sample's new
label, and the model is fine-tuned on D_f with those labels. Our batches are normalised, so
the step is taken on the de-normalised pixels and normalised again.

boundary_expand (`boundary_ex.py`): the linear head gets one extra "shadow" output (the old
rows copied, the new row freshly initialised as `nn.Linear` does), the model is fine-tuned on
D_f with every sample labelled shadow, and the shadow output is removed again (docs/methods.md),
so the returned model has the original outputs and loads with the recorded architecture.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn

from unlearn_cli.data.loader import Batch
from unlearn_cli.errors import InputError
from unlearn_cli.methods.base import NoParams, Unlearned, register_method, sgd
from unlearn_cli.methods.context import UnlearnContext, derive_seed
from unlearn_cli.methods.losses import ce_loss
from unlearn_cli.space import integers, log_uniform
from unlearn_cli.train.gradients import input_gradient
from unlearn_cli.train.loop import StepOutput
from unlearn_cli.train.objectives import cross_entropy

PIXEL_LEVELS = 255  # images are uint8: a neighbour is rounded back onto their grid


@dataclass(frozen=True)
class BoundaryShrinkParams:
    bound: float = 0.1  # the FGSM step in [0, 1] pixel units ("hard coding in the paper")

    def __post_init__(self) -> None:
        if not 0 < self.bound <= 1:
            raise InputError(f"boundary_shrink bound={self.bound} is outside (0, 1]",
                             hint="the FGSM step in [0, 1] pixel units, e.g. --param bound=0.1")


def _channel_stats(values: Sequence[float], like: Tensor) -> Tensor:
    return torch.as_tensor(values, dtype=like.dtype, device=like.device).view(1, -1, 1, 1)


def fgsm_neighbour(model: nn.Module, x: Tensor, y: Tensor, bound: float,
                   mean: Sequence[float], std: Sequence[float]) -> Tensor:
    """The FGSM neighbour of a normalised batch: one step of `bound` (in [0, 1] pixel units)
    along the sign of the CE's input gradient, clamped to [0, 1] and rounded to 1/255
    steps, returned normalised again. A step along the sign of ∂/∂x_normalised is the same
    step in pixel space, because normalising divides by a positive std."""
    mean_t, std_t = _channel_stats(mean, x), _channel_stats(std, x)
    step = input_gradient(model, x, y).sign()
    pixels = (x.detach() * std_t + mean_t + bound * step).clamp(0.0, 1.0)
    pixels = torch.round(pixels * PIXEL_LEVELS) / PIXEL_LEVELS
    return (pixels - mean_t) / std_t  # element-wise: keeps x's memory format


@torch.no_grad()
def prediction_excluding(logits: Tensor, excluded: Tensor) -> Tensor:
    """The arg-max of each row with the class `excluded[row]` left out."""
    masked = logits.float().clone()
    masked[torch.arange(len(excluded), device=logits.device), excluded] = float("-inf")
    return masked.argmax(dim=1)


def neighbour_labels(model: nn.Module, x: Tensor, y: Tensor, bound: float,
                     mean: Sequence[float], std: Sequence[float]) -> Tensor:
    """boundary_shrink's new labels: `model`'s prediction on each FGSM neighbour, never y."""
    neighbour = fgsm_neighbour(model, x, y, bound, mean, std)
    with torch.no_grad():
        return prediction_excluding(model(neighbour), y)


def shrink_objective(teacher: nn.Module, bound: float, mean: Sequence[float], std: Sequence[float]):
    def objective(model: nn.Module, batch: Batch, step: int) -> StepOutput:
        labels = neighbour_labels(teacher, batch.x, batch.y, bound, mean, std)
        logits = model(batch.x)
        return StepOutput(ce_loss(logits, labels), logits.detach(), labels, batch.index)

    return objective


@register_method(
    "boundary_shrink",
    description="relabel each forget sample with the original model's prediction (true class excluded) on "
    "its FGSM neighbour (bound in [0,1] pixels); fine-tune on D_f with those labels",
    params=BoundaryShrinkParams, recipe=sgd(0.01, epochs=10),
    space={"lr": log_uniform(1e-4, 1e-1), "epochs": integers(1, 10), "bound": log_uniform(0.01, 0.3)},
    reference="OPTML-Group/Unlearn-Saliency Classification/unlearn/boundary_sh.py",
)
def boundary_shrink(ctx: UnlearnContext, params: BoundaryShrinkParams) -> Unlearned:
    teacher = ctx.frozen_original()
    forget = ctx.loader(ctx.forget_rows, purpose="forget")
    ctx.fit(ctx.model, forget, shrink_objective(teacher, params.bound, ctx.info.mean, ctx.info.std))
    return Unlearned(ctx.model)


# ---- boundary_expand --------------------------------------------------------------------


def extendable_head(model: nn.Module, method: str) -> nn.Linear:
    """The model's `head`, which must be an `nn.Linear` that `forward` reads at call time."""
    head = getattr(model, "head", None)
    if not isinstance(head, nn.Linear):
        kind = "no head" if head is None else f"a {type(head).__name__} head"
        raise InputError(f"{method} needs a model whose classifier is one linear layer `head`; "
                         f"{type(model).__name__} has {kind}",
                         hint="use another method, or a model with a linear head (see `unlearn ls models`)")
    return head


def widened(head: nn.Linear, seed: int) -> nn.Linear:
    """`head` with one more output: its rows copied, the new row initialised as a fresh
    `nn.Linear` initialises it (drawn from `seed`, without touching the global RNG)."""
    with torch.random.fork_rng(devices=[head.weight.device.index or 0] if head.weight.is_cuda else []):
        torch.manual_seed(seed)
        wide = nn.Linear(head.in_features, head.out_features + 1, bias=head.bias is not None,
                         device=head.weight.device, dtype=head.weight.dtype)
    with torch.no_grad():
        wide.weight[:-1] = head.weight
        if head.bias is not None:
            wide.bias[:-1] = head.bias
    return wide


def narrowed(head: nn.Linear, outputs: int) -> nn.Linear:
    """`head` keeping only its first `outputs` outputs (the shadow output removed)."""
    narrow = nn.Linear(head.in_features, outputs, bias=head.bias is not None,
                       device=head.weight.device, dtype=head.weight.dtype)
    with torch.no_grad():
        narrow.weight.copy_(head.weight[:outputs])
        if head.bias is not None:
            narrow.bias.copy_(head.bias[:outputs])
    return narrow


@register_method(
    "boundary_expand",
    description="add a shadow class output to the linear head, fine-tune on D_f all labelled shadow, then "
    "remove the shadow output",
    params=NoParams, recipe=sgd(0.01, epochs=10),
    space={"lr": log_uniform(1e-4, 1e-1), "epochs": integers(1, 10)},
    reference="OPTML-Group/Unlearn-Saliency Classification/unlearn/boundary_ex.py",
    check_model=lambda model, params: extendable_head(model, "boundary_expand"),
)
def boundary_expand(ctx: UnlearnContext, params: NoParams) -> Unlearned:
    model = ctx.model
    head = extendable_head(model, "boundary_expand")
    outputs = head.out_features
    model.head = widened(head, derive_seed(ctx.seed, "shadow-output"))
    shadow = np.full(len(ctx.view.forget), outputs, dtype=np.int64)  # the shadow class for every row
    # The optimiser is built over the widened model's parameters, the new row included.
    ctx.fit(model, ctx.loader(ctx.forget_rows, purpose="forget", labels=shadow), cross_entropy)
    model.head = narrowed(model.head, outputs)
    return Unlearned(model)
