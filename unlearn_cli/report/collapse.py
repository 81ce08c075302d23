"""Collapsed runs: an unlearning run whose retain or test accuracy fell far below retrain's.

A collapsed model predicts little better than chance. Its forget accuracy and membership
attacks then land near retrain's by accident, and it is usually the fastest run, so ranking
it would reward breaking the model. It is flagged "collapsed" (a note says which accuracy
fell, from what to what) and never marked best in any column.

The threshold: RA or TA more than COLLAPSE_POINTS = 20 percentage points below the
yardstick's mean. A collapse is not subtle — chance level is 10 % on CIFAR-10 and 1 % on
CIFAR-100, 70 to 90 points below a retrained model — while the spread of RA and TA over
seeds is a point or two and a working method that trades some accuracy for forgetting gives
up a few points, not twenty. Twenty points sits far from both, so neither a noisy nor an
aggressive-but-working method is flagged, and no collapse is missed.

The yardstick is retrain's row; a setting without a retrain is judged against the original
model (the accuracy unlearning should keep), and the note says which was used.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from unlearn_cli.report.methods import ORIGINAL, RETRAIN

if TYPE_CHECKING:
    from unlearn_cli.report.summary import Row

COLLAPSE_POINTS = 20.0
UTILITY_METRICS = ("RA", "TA")


@dataclass(frozen=True)
class Collapse:
    metric: str  # the accuracy that fell: RA or TA
    value: float  # the run's mean
    yardstick: float  # retrain's (or the original model's) mean
    against: str  # "retrain" or "the original model"

    def describe(self, label: str) -> str:
        return (f"{label} collapsed: {self.metric} {self.value:.2f} % is {self.yardstick - self.value:.2f} points "
                f"below {self.against}'s {self.yardstick:.2f} % (more than {COLLAPSE_POINTS:g} points below on RA "
                "or TA): it is never marked best")


def _yardstick(rows: list[Row]) -> tuple[Row, str] | None:
    for method, name in ((RETRAIN, "retrain"), (ORIGINAL, "the original model")):
        row = next((row for row in rows if row.method == method), None)
        if row is not None and any(metric in row.cells for metric in UTILITY_METRICS):
            return row, name
    return None


def find_collapsed(rows: Iterable[Row]) -> dict[str, Collapse]:
    """label → why, for every unlearning method's row that collapsed."""
    rows = list(rows)
    found = _yardstick(rows)
    if found is None:
        return {}
    yardstick, against = found
    collapsed: dict[str, Collapse] = {}
    for row in rows:
        if row.method in (RETRAIN, ORIGINAL):
            continue
        for metric in UTILITY_METRICS:
            if metric in row.cells and metric in yardstick.cells:
                value, reference = row.cells[metric].mean, yardstick.cells[metric].mean
                if reference - value > COLLAPSE_POINTS:
                    collapsed[row.label] = Collapse(metric, value, reference, against)
                    break
    return collapsed
