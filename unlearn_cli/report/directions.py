"""Which way each metric is better, and its unit: the report marks the best value per column
and writes the direction on every table and plot axis.

One entry per metric value name (`unlearn ls metrics` describes the groups); a test checks
that every value the metric registry can yield has an entry here. A value without one (an
evaluation from another version) is still reported, with no best mark.
"""

from __future__ import annotations

from dataclasses import dataclass

HIGHER = "higher"
LOWER = "lower"
RETRAIN = "retrain"  # the gold standard is the retrained model's value, not an extreme
TARGET = "target"  # a fixed value means "cannot tell" (e.g. 50 % for a binary attack)
NONE = "none"  # information only; no value is better


@dataclass(frozen=True)
class Direction:
    goal: str
    unit: str  # "%", "points", "nats", "×", "s" or "" (a ratio)
    target: float | None = None
    note: str | None = None  # replaces the generic text where "better" does not apply

    @property
    def text(self) -> str:
        if self.note is not None:
            return self.note
        if self.goal == TARGET:
            return f"closest to {self.target:g} is best"
        return {HIGHER: "higher is better", LOWER: "lower is better", RETRAIN: "closest to retrain is best"}[self.goal]

    @property
    def arrow(self) -> str:
        """A short marker for axis labels and terminal tables."""
        if self.goal == TARGET:
            return f"≈ {self.target:g}"
        return {HIGHER: "↑", LOWER: "↓", RETRAIN: "≈ retrain"}.get(self.goal, "")

    def axis_label(self, metric: str) -> str:
        unit = f", {self.unit}" if self.unit else ""
        return f"{metric}{unit} ({self.text})"

    def score(self, mean: float, retrain: float | None) -> float | None:
        """Smaller is better; None where this direction cannot rank (no retrain value)."""
        if self.goal == HIGHER:
            return -mean
        if self.goal == LOWER:
            return mean
        if self.goal == RETRAIN:
            return None if retrain is None else abs(mean - retrain)
        if self.goal == TARGET:
            assert self.target is not None
            return abs(mean - self.target)
        return None


PERCENT = "%"

DIRECTIONS: dict[str, Direction] = {
    "FA": Direction(RETRAIN, PERCENT),
    "RA": Direction(HIGHER, PERCENT),
    "TA": Direction(HIGHER, PERCENT),
    "VA": Direction(HIGHER, PERCENT),
    "UA": Direction(RETRAIN, PERCENT),
    "TA_forget": Direction(RETRAIN, PERCENT),
    "acc_clean": Direction(HIGHER, PERCENT),
    "acc_corr": Direction(HIGHER, PERCENT),
    "attack_success": Direction(LOWER, PERCENT),
    "acc_retain": Direction(HIGHER, PERCENT),
    "acc_manip_known": Direction(HIGHER, PERCENT),
    "acc_manip_unknown": Direction(HIGHER, PERCENT),
    "mia_entropy": Direction(RETRAIN, PERCENT),
    # The registry says "higher = more forgotten"; over-forgetting a random forget set is as
    # wrong as under-forgetting it, so, as for mia_entropy, retrain's value is the mark.
    "mia_confidence": Direction(RETRAIN, PERCENT),
    "mia_confidence_spread": Direction(NONE, "points", note="information: how far mia_confidence moves "
                                                            "over member draws"),
    # The kit's 50 % means "D_f looks like test", which is retrain's value only where D_f is
    # like test (a random set). Retrain forgetting a class still tells it apart (its loss on
    # a class it never saw is high): there 50 % rewards the run that forgot nothing.
    "mia_loss": Direction(RETRAIN, PERCENT),
    "avg_gap": Direction(LOWER, "points"),
    "tow": Direction(HIGHER, ""),
    "kl_forget": Direction(LOWER, "nats"),
    "kl_test": Direction(LOWER, "nats"),
    "rte": Direction(HIGHER, "×"),
    # Not evaluation metrics: the unlearned run's own cost, from its manifest (report/costs.py).
    "wall_seconds": Direction(LOWER, "s"),
    "device_seconds": Direction(LOWER, "s"),
    # Steps do not move with a shared machine's load, as wall time does; not ranked, since a
    # method without a training loop (SSD's gradient passes) records 0 whatever it cost.
    "steps": Direction(NONE, "", note="information: optimiser steps of the unlearning run "
                                      "(0 without a training loop)"),
}

UNKNOWN = Direction(NONE, "", note="direction not recorded by this version")


def direction_of(metric: str) -> Direction:
    return DIRECTIONS.get(metric, UNKNOWN)


def metric_order(metrics: set[str] | list[str]) -> list[str]:
    """Known metrics in the registry's order, then unknown ones by name."""
    known = [m for m in DIRECTIONS if m in metrics]
    return known + sorted(set(metrics) - set(DIRECTIONS))
