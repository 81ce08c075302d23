"""The Optuna study of a tuning: created or continued, checked against its settings, its killed
trials failed, its best trial picked."""

from __future__ import annotations

import logging
import os
import socket
import time
from typing import Any

from unlearn_cli.errors import InputError
from unlearn_cli.tune import objective
from unlearn_cli.tune.settings import StudySettings

log = logging.getLogger(__name__)

FINISHED = ("COMPLETE", "FAIL", "PRUNED")
# NSGA-II's generation: small, since a study has tens of trials, not thousands.
NSGA_POPULATION = 8
# TPE draws at random for its first trials, then models the good ones.
TPE_STARTUP = 5


def sampler_for(objective_name: str, seed: int) -> Any:
    import optuna

    if objective_name == "nsga":
        return optuna.samplers.NSGAIISampler(seed=seed, population_size=NSGA_POPULATION)
    return optuna.samplers.TPESampler(seed=seed, n_startup_trials=TPE_STARTUP)


def open_study(storage: Any, name: str, settings: StudySettings, *, sampler_seed: int, force: bool,
               first: dict[str, Any] | None = None) -> Any:
    """The study `name` in `storage`: created with `settings` recorded (and `first` queued as its
    first trial's values), or loaded after checking that it was made with the same settings
    (`force`: deleted and made anew)."""
    import optuna

    existing = {summary.study_name for summary in optuna.get_all_study_summaries(storage, include_best_trial=False)}
    if name in existing:
        study = optuna.load_study(study_name=name, storage=storage,
                                  sampler=sampler_for(settings.objective, sampler_seed))
        attrs = _recorded_settings(study)
        if attrs is None:  # its creator died before recording them: ours stand
            _record(study, settings)
            return study
        differences = settings.differences(attrs)
        if differences and not force:
            raise InputError(f"study {name} exists with other settings: {'; '.join(differences)}",
                             hint="pass the same settings to continue it, another --study name, or --force to "
                             "start it over")
        if not differences:
            return study
        optuna.delete_study(study_name=name, storage=storage)
        log.info("study %s: started over (--force)", name)
    directions = ["minimize"] * (1 if settings.objective == "avg_gap" else len(objective.GAP_KEYS))
    try:
        study = optuna.create_study(study_name=name, storage=storage, directions=directions,
                                    sampler=sampler_for(settings.objective, sampler_seed))
    except optuna.exceptions.DuplicatedStudyError:  # another process made it a moment ago
        return open_study(storage, name, settings, sampler_seed=sampler_seed, force=False)
    _record(study, settings)
    if first:
        study.enqueue_trial(first, user_attrs={"defaults": True})
    return study


SETTINGS_ATTR = "settings"


def _record(study: Any, settings: StudySettings) -> None:
    # One attribute, one write: a process reading it sees all the settings or none.
    study.set_user_attr(SETTINGS_ATTR, settings.to_attrs())


def _recorded_settings(study: Any, wait_s: float = 10.0) -> dict[str, Any] | None:
    """The settings a study records. Optuna cannot create a study and its attributes in one
    step, so a process that finds a study made a moment ago waits for them a little."""
    deadline = time.monotonic() + wait_s
    while True:
        recorded = study.user_attrs.get(SETTINGS_ATTR)
        if isinstance(recorded, dict) or time.monotonic() >= deadline:
            return recorded if isinstance(recorded, dict) else None
        time.sleep(0.2)


def fail_dead_trials(study: Any) -> int:
    """RUNNING trials of a process of this machine that is gone (a killed run) become FAIL, so
    they neither block the count nor wait for the heartbeat's grace period."""
    from optuna.trial import TrialState

    host, failed = socket.gethostname(), 0
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        pid = trial.user_attrs.get("pid")
        if trial.user_attrs.get("host") != host or not isinstance(pid, int) or _alive(pid):
            continue
        # Optuna has no public call to end another process's trial; its storage API does it.
        study._storage.set_trial_user_attr(trial._trial_id, "error", "its process was killed")
        study._storage.set_trial_state_values(trial._trial_id, TrialState.FAIL)
        failed += 1
    return failed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def finished_count(study: Any) -> int:
    from optuna.trial import TrialState

    return len(study.get_trials(deepcopy=False, states=tuple(TrialState[s] for s in FINISHED)))


def best_trial(study: Any, objective_name: str) -> Any | None:
    """The best COMPLETE trial: the lowest avg_gap, or for `nsga` the Pareto trial of smallest
    norm (ties: the earlier trial). None when no trial completed."""
    from optuna.trial import TrialState

    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if not complete:
        return None
    if objective_name == "avg_gap":
        return min(complete, key=lambda t: (t.value, t.number))
    return min(study.best_trials, key=lambda t: (objective.norm(t.values), t.number))
