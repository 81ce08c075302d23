"""`badteacher` (Chundawat et al.): distil from two teachers — the original model (competent)
on retain samples and a random-init model of the same architecture (incompetent) on forget
samples — by minimising KL(teacher ‖ student) at temperature T, batchmean, over D_f and a
`retain_fraction` of D_r drawn once per run; `init_linear=true` re-draws the student's head
first, as NatMU's class-wise blindspot.py does with `-i` (line 201). `kl_reduction=mean`
divides by the number of
classes too, as the reference's and the corrective repository's F.kl_div default does
(corrective-unlearning-bench src/methods.py:299)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
from torch import nn

from unlearn_cli.data.loader import Batch
from unlearn_cli.errors import InputError
from unlearn_cli.methods.base import Unlearned, adam, register_method
from unlearn_cli.methods.common import reinit_head
from unlearn_cli.methods.context import UnlearnContext, derive_seed
from unlearn_cli.methods.losses import distill_kl, soft_targets
from unlearn_cli.space import integers, log_uniform, uniform
from unlearn_cli.train.loop import StepOutput


@dataclass(frozen=True)
class BadTeacherParams:
    temperature: float = 1.0
    retain_fraction: float = 0.3  # of D_r, drawn once; NatMU's scripts use all of it (1.0)
    kl_reduction: Literal["batchmean", "mean"] = "batchmean"  # mean: also ÷ classes
    init_linear: bool = False  # re-initialise the student's head first (NatMU's class-wise scripts)

    def __post_init__(self) -> None:
        if not self.temperature > 0:
            raise InputError(f"badteacher temperature={self.temperature} is not positive", hint="e.g. 1")
        if not 0.0 < self.retain_fraction <= 1.0:
            raise InputError(f"badteacher retain_fraction={self.retain_fraction} is outside (0, 1]",
                             hint="e.g. --param retain_fraction=0.3")


def retain_subset(retain_rows: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """int(fraction·|D_r|) retain rows drawn without replacement, sorted (all for 1.0)."""
    if fraction >= 1.0:
        return retain_rows
    count = int(fraction * len(retain_rows))
    return np.sort(np.random.default_rng(seed).choice(retain_rows, size=count, replace=False))


def teacher_mixture(forget_flags: torch.Tensor, competent_logits: torch.Tensor, incompetent_logits: torch.Tensor,
                    temperature: float) -> torch.Tensor:
    """Per sample: the incompetent teacher's softened outputs for forget samples, the
    competent teacher's for retain samples."""
    flags = forget_flags.to(torch.float32).unsqueeze(1)
    return flags * soft_targets(incompetent_logits, temperature) + (1 - flags) * soft_targets(competent_logits, temperature)


def badteacher_objective(competent: nn.Module, incompetent: nn.Module, is_forget: torch.Tensor, temperature: float,
                         reduction: str = "batchmean"):
    def objective(model: nn.Module, batch: Batch, step: int) -> StepOutput:
        with torch.no_grad():
            target = teacher_mixture(is_forget[batch.index], competent(batch.x), incompetent(batch.x), temperature)
        return StepOutput(distill_kl(model(batch.x), target, temperature, reduction))

    return objective


@register_method(
    "badteacher",
    description="distil from the original model on retain samples and a random-init model on forget "
    "samples: KL(teacher || student) at temperature T, batchmean",
    params=BadTeacherParams, recipe=adam(1e-4, epochs=1),
    space={"lr": log_uniform(1e-6, 1e-2), "epochs": integers(1, 5), "temperature": log_uniform(0.5, 8.0),
           "retain_fraction": uniform(0.1, 1.0)},
    reference="vikram2000b/bad-teaching-unlearning unlearn.py (its KL reduces by 'mean'; ours by "
    "'batchmean' unless kl_reduction=mean)",
)
def badteacher(ctx: UnlearnContext, params: BadTeacherParams) -> Unlearned:
    competent = ctx.frozen_original()
    incompetent = ctx.fresh_model("incompetent-teacher").eval().requires_grad_(False)
    if params.init_linear:
        reinit_head(ctx.model, derive_seed(ctx.seed, "init-linear"))
    retain = retain_subset(ctx.retain_rows, params.retain_fraction, derive_seed(ctx.seed, "retain-subset"))
    rows = np.sort(np.concatenate([ctx.forget_rows, retain]))
    is_forget = torch.from_numpy(ctx.view.forget).to(ctx.device)
    loader = ctx.loader(rows, purpose="badteacher")
    ctx.fit(ctx.model, loader, badteacher_objective(competent, incompetent, is_forget, params.temperature,
                                                    params.kl_reduction))
    return Unlearned(ctx.model)
