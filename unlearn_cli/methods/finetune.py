"""`finetune`: fine-tune on D_r with cross-entropy (catastrophic forgetting of D_f).

`k=K` is CF-k: only the last K layers train; the rest stays exactly as it was, BatchNorm
statistics included.
"""

from __future__ import annotations

from dataclasses import dataclass

from unlearn_cli.methods.base import Unlearned, register_method, sgd
from unlearn_cli.methods.common import freeze_all_but_last_k
from unlearn_cli.methods.context import UnlearnContext
from unlearn_cli.space import integers, log_uniform
from unlearn_cli.train.objectives import cross_entropy


@dataclass(frozen=True)
class FinetuneParams:
    k: int | None = None  # CF-k: train only the last k layers


@register_method(
    "finetune",
    description="fine-tune on D_r with cross-entropy; k=K: CF-k, only the last K layers train",
    params=FinetuneParams, recipe=sgd(0.01, epochs=10),
    space={"lr": log_uniform(1e-4, 1e-1), "epochs": integers(1, 10)},
    reference="Unlearn-Sparse unlearn/FT.py; corrective-unlearning-bench ApplyK (CF-k)",
)
def finetune(ctx: UnlearnContext, params: FinetuneParams) -> Unlearned:
    model = ctx.model
    frozen = freeze_all_but_last_k(model, params.k)
    ctx.fit(model, ctx.loader(ctx.retain_rows, purpose="retain"), cross_entropy, keep_eval=frozen)
    return Unlearned(model)
