"""What an unlearning run cost, from its own manifest's summary (not an evaluation metric):
wall seconds, device seconds where the run recorded them, and optimiser steps.

Wall time on a shared machine moves with everyone else's load; steps do not, so a report
offers both (and device seconds, the accelerator's busy time, where a run records them).
The model before unlearning has no cost of its own: its manifest's times are pretraining's.
"""

from __future__ import annotations

from unlearn_cli.artifacts import Manifest

COSTS = ("wall_seconds", "device_seconds", "steps")

# Evaluation values that describe an unlearning run, and so mean nothing for the original
# model (an evaluation of a pretrained model, made with a reference): why each is left out.
NOT_FOR_THE_ORIGINAL = {
    "rte": "it would divide retrain's time by the model's pretraining time",
}


def run_costs(run: Manifest) -> dict[str, float]:
    """The cost values an unlearned run's summary records (none for a pretrained model)."""
    if run.kind != "unlearned":
        return {}
    costs = {}
    for key in COSTS:
        value = run.summary.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool):
            costs[key] = float(value)
    return costs
