"""What a trial is scored by (torch-free): the gap to retraining on validation-only quantities.

Each value is NatMU's avg_gap term with validation accuracy in place of test accuracy, computed
on a context whose "test" side is the model's validation rows (`steps/validation.py`):
|ΔRA|, |ΔFA|, |ΔVA| and |Δmia_entropy| against the retrain run of the same forget set and seed,
in percentage points. `avg_gap` (the default objective) is their mean; `nsga` minimises the four
separately, as DeepUnlearn's multi-objective search does, and picks the Pareto trial of
smallest Euclidean norm.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from unlearn_cli.metrics import EvalContext
from unlearn_cli.metrics.accuracy import accuracy_values
from unlearn_cli.metrics.mia import mia_entropy_score

GAP_KEYS = ("RA", "FA", "VA", "mia_entropy")


def gaps(ctx: EvalContext) -> dict[str, float]:
    """|this − retrain| for each of GAP_KEYS; `ctx.reference` is the retrain's context."""
    ref = ctx.reference
    if ref is None:
        raise ValueError("a trial is scored against its retrain reference")
    this, other = accuracy_values(ctx), accuracy_values(ref)
    return {
        "RA": abs(this["RA"] - other["RA"]),
        "FA": abs(this["FA"] - other["FA"]),
        "VA": abs(this["TA"] - other["TA"]),  # the context's test side is the validation rows
        "mia_entropy": abs(mia_entropy_score(ctx) - mia_entropy_score(ref)),
    }


def mean_gaps(per_seed: Sequence[Mapping[str, float]]) -> dict[str, float]:
    """The gaps averaged over a trial's seeds."""
    return {key: sum(g[key] for g in per_seed) / len(per_seed) for key in GAP_KEYS}


def avg_gap(g: Mapping[str, float]) -> float:
    return sum(g[key] for key in GAP_KEYS) / len(GAP_KEYS)


def values_of(objective: str, g: Mapping[str, float]) -> list[float]:
    """What Optuna minimises: [avg_gap], or the four gaps for `nsga`."""
    return [avg_gap(g)] if objective == "avg_gap" else [float(g[key]) for key in GAP_KEYS]


def finite(values: Sequence[float]) -> bool:
    return all(math.isfinite(v) for v in values)


def norm(values: Sequence[float]) -> float:
    """The Euclidean norm that picks one trial of a Pareto front."""
    return math.sqrt(sum(v * v for v in values))
