"""Mirrors of finished training runs into the trackers researchers already look at.

`--tracker tensorboard|mlflow` on `pretrain` and `unlearn` (or `UNLEARN_TRACKER` for every
step a sweep, audit or tune runs) copies a run's parameters, summary and curves
(train/history.py) there once the run's own artifact is written. The artifact stays the
record: a tracker is a view of it, so an unreachable tracker is a warning, never a lost run.
"""

from unlearn_cli.trackers import mlflow_tracker, tensorboard_tracker  # noqa: F401  (registers them)
from unlearn_cli.trackers.base import ENV, TRACKERS, TrackedRun, TrackerSpec, chosen_tracker, flatten

__all__ = ["ENV", "TRACKERS", "TrackedRun", "TrackerSpec", "chosen_tracker", "flatten"]
