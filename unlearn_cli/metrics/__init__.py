"""Metrics over a model's per-sample outputs (docs/metrics.md): accuracies, membership inference,
corrective metrics and gaps to the retrain reference.

Importing this package registers every metric in `METRICS`, in the order results are
reported: accuracy, classwise, corrective, mia_entropy, mia_confidence, mia_loss, avg_gap,
tow, kl_to_reference, rte.
"""

from __future__ import annotations

# Imported for their registrations; the order fixes the registry (and report) order.
from unlearn_cli.metrics import accuracy as _accuracy  # noqa: F401
from unlearn_cli.metrics import corrective as _corrective  # noqa: F401
from unlearn_cli.metrics import mia as _mia  # noqa: F401
from unlearn_cli.metrics import reference as _reference  # noqa: F401
from unlearn_cli.metrics.context import EvalContext
from unlearn_cli.metrics.outputs import Outputs
from unlearn_cli.metrics.per_sample import per_sample_table
from unlearn_cli.metrics.registry import (
    METRICS,
    Metric,
    check_metric_names,
    compute_metrics,
    register_metric,
    value_names,
)

__all__ = [
    "METRICS",
    "EvalContext",
    "Metric",
    "Outputs",
    "check_metric_names",
    "compute_metrics",
    "per_sample_table",
    "register_metric",
    "value_names",
]
