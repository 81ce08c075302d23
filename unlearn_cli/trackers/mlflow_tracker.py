"""`--tracker mlflow`: one MLflow run per artifact, in experiment `unlearn`
(`UNLEARN_MLFLOW_EXPERIMENT` names another), at `MLFLOW_TRACKING_URI` when it is set and
otherwise in a local store, the SQLite file `<workspace>/mlflow/mlflow.db` (`mlflow ui
--backend-store-uri sqlite:///<workspace>/mlflow/mlflow.db`). MLflow 3 refuses its older
folder-of-files store by default and makes SQLite its local default, so that is what is used.

Parameters are the run's config flattened to dotted keys; metrics are the curves at their
optimiser step (`epoch_loss`, `epoch_accuracy`, `epoch_lr`, `step_loss`, `step_lr`) and the
summary's numbers; tags say the artifact's kind, name and manifest. The client API is used
rather than `mlflow.start_run`, so no global active run is left behind in the process.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from unlearn_cli.trackers.base import TRACKERS, TrackedRun, TrackerSpec

EXPERIMENT_ENV = "UNLEARN_MLFLOW_EXPERIMENT"
DEFAULT_EXPERIMENT = "unlearn"
_BATCH = 900  # MLflow takes at most 1000 metrics and 100 params per log_batch call
_PARAM_BATCH = 90
_PARAM_CHARS = 6000  # MLflow's limit on a parameter value


def tracking_uri(folder: Path) -> str:
    if os.environ.get("MLFLOW_TRACKING_URI"):
        return os.environ["MLFLOW_TRACKING_URI"]
    folder.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{(folder / 'mlflow.db').resolve()}"


@contextmanager
def _quiet() -> Iterator[None]:
    """MLflow and alembic log at INFO ("Creating initial MLflow database tables...") through
    handlers of their own; a step's stderr keeps to its progress and results."""
    loggers = [logging.getLogger(name) for name in ("mlflow", "alembic")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels):
            logger.setLevel(level)


def mirror(run: TrackedRun, folder: Path) -> str:
    import mlflow  # noqa: F401  importing sets MLflow's logger levels; _quiet must come after

    with _quiet():
        return _mirror(run, folder)


def _mirror(run: TrackedRun, folder: Path) -> str:
    from mlflow.entities import Metric, Param
    from mlflow.tracking import MlflowClient

    uri = tracking_uri(folder)
    client = MlflowClient(tracking_uri=uri)
    experiment_name = os.environ.get(EXPERIMENT_ENV) or DEFAULT_EXPERIMENT
    experiment = client.get_experiment_by_name(experiment_name)
    experiment_id = experiment.experiment_id if experiment else client.create_experiment(experiment_name)
    created = client.create_run(experiment_id, run_name=run.name, tags=run.tags)
    run_id = created.info.run_id
    now = int(time.time() * 1000)
    metrics = [Metric(f"{scope}_{key}", value, now, step) for scope, key, step, value in run.curve_points()]
    metrics += [Metric(key, value, now, run.last_step) for key, value in run.metrics.items()]
    params = [Param(key, str(value)[:_PARAM_CHARS]) for key, value in sorted(run.params.items())]
    try:
        for start in range(0, len(params), _PARAM_BATCH):
            client.log_batch(run_id, params=params[start:start + _PARAM_BATCH])
        for start in range(0, len(metrics), _BATCH):
            client.log_batch(run_id, metrics=metrics[start:start + _BATCH])
    except BaseException:
        client.set_terminated(run_id, status="FAILED")
        raise
    client.set_terminated(run_id)
    return f"{uri} (experiment {experiment_name}, run {run_id})"


TRACKERS.add("mlflow", TrackerSpec(
    name="mlflow", module="mlflow", extra="mlflow", folder="mlflow",
    description="an MLflow run per artifact; MLFLOW_TRACKING_URI, else <workspace>/mlflow/mlflow.db (SQLite)",
    mirror=mirror,
))
