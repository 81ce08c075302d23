"""`retrain`: exact unlearning, the gold standard every other method is measured against.

Train from the model's saved initial weights on D_r of the training view (in the corrective
setting the unknown manipulated rows stay in D_r, as the model saw them) with the model's own
resolved pretraining recipe. `k=K` is EU-k: re-initialise only the last K layers (from the
initial weights), freeze the rest exactly, and train for 1000 steps by default.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from unlearn_cli.errors import ArtifactError
from unlearn_cli.methods.base import Unlearned, register_method
from unlearn_cli.methods.common import freeze_all_but_last_k
from unlearn_cli.methods.context import UnlearnContext
from unlearn_cli.models import reinit_last_k
from unlearn_cli.train.objectives import cross_entropy
from unlearn_cli.train.recipes import Recipe

EU_K_STEPS = 1000


@dataclass(frozen=True)
class RetrainParams:
    k: int | None = None  # EU-k: re-initialise and train only the last k layers


def _recipe(params: RetrainParams, own: Recipe | None) -> Recipe:
    if own is None:
        raise ArtifactError("the model records no pretraining recipe to retrain with",
                            hint="re-create the model with this version of unlearn")
    return own if params.k is None else replace(own, steps=EU_K_STEPS, epochs=None)


@register_method(
    "retrain",
    description="train from the saved initial weights on D_r with the model's own recipe "
    "(the reference); k=K: EU-k, only the last K layers re-initialised and trained",
    params=RetrainParams, recipe=_recipe, distributed=True,
    reference="NatMU (initial weights); corrective-unlearning-bench ApplyK (EU-k)",
)
def retrain(ctx: UnlearnContext, params: RetrainParams) -> Unlearned:
    model = ctx.model
    init = ctx.init_weights()
    if params.k is None:
        model.load_state_dict(init)
    else:
        reinit_last_k(model, params.k, init_state=init)
    frozen = freeze_all_but_last_k(model, params.k)
    # The model's own recipe decides, as in its pretraining, whether a partial last batch
    # is kept (NatMU's retrain.py:60 keeps it) or dropped.
    ctx.fit(model, ctx.loader(ctx.retain_rows, purpose="retain"), cross_entropy, keep_eval=frozen)
    return Unlearned(model)
