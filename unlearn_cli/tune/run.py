"""`unlearn tune`: check, open the study, make the retrains, run the missing trials (here or in
`--jobs` worker processes), re-run the best trial on fresh seeds with its full evaluation, and
write `tune/<study>/`.

The study's storage is the record of what ran: a re-run (after Ctrl-C, a kill, or on another
machine sharing the storage) counts the finished trials and runs only the rest; a killed
process's RUNNING trials are failed first (`study.fail_dead_trials`, or the heartbeat for
another machine's), and a finished study only rewrites its outputs.
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import os
import signal
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from unlearn_cli.artifacts import Manifest, Workspace, atomic_write_bytes, check_name, save_table
from unlearn_cli.console import stderr_console
from unlearn_cli.errors import ArtifactBusyError, ArtifactError, InputError, UnlearnError
from unlearn_cli.space import Range, describe_space
from unlearn_cli.steps.options import TUNED_PRESET, EvaluateOptions, TuneOptions, UnlearnOptions
from unlearn_cli.steps.unlearn import best_preset_path, model_and_forget
from unlearn_cli.sweep.node import output_to
from unlearn_cli.tune import outputs
from unlearn_cli.tune.settings import StudySettings
from unlearn_cli.tune.storage import default_url, masked, open_storage
from unlearn_cli.tune.study import best_trial, fail_dead_trials, finished_count, open_study, sampler_for
from unlearn_cli.tune.trial import BUSY_POLL_S, TrialRunner, made_once, retrain_options, run_options

log = logging.getLogger(__name__)

SUMMARY_JSON = "summary.json"
INSTALL_HINT = "install the tuning extra: pip install 'unlearn-cli[tune]'"


@dataclass
class TunePlan:
    """Everything checked before a trial runs."""

    name: str
    folder: Path
    url: str
    settings: StudySettings
    space: dict[str, Range]
    model: Manifest
    forget: Manifest
    options: TuneOptions
    # The values an ordinary run takes (method defaults under the preset, its recipe): the
    # study's first trial where they lie in the space, so its best is never worse than them.
    defaults: dict[str, Any]


def tune_folder(ws: Workspace, name: str) -> Path:
    return ws.manifest_path("tune", name).parent


def plan_tune(ws: Workspace, options: TuneOptions) -> TunePlan:
    from unlearn_cli.methods import METHODS

    options.validate()
    spec = METHODS.get(options.method)
    if spec.name == "retrain":
        raise InputError("retrain is the yardstick every trial is scored against; it has nothing to tune",
                         hint="tune an unlearning method, e.g. --method finetune")
    space = options.resolved_space(spec)
    if options.preset and options.preset.startswith(TUNED_PRESET):
        study = options.preset[len(TUNED_PRESET):]
        raise InputError(f"a study starts from a registered preset or a preset file, not {options.preset}",
                         hint=f"pass its file: --preset {ws.rel(best_preset_path(ws, study))}")
    base = UnlearnOptions(method=spec.name, model=options.model, forget=options.forget, preset=options.preset)
    choice = base.resolve()  # the method and preset checks of an ordinary run
    model, forget = model_and_forget(ws, base)
    from unlearn_cli.steps.validation import require_validation

    require_validation(model)
    name = check_name(options.study or f"{forget.name}-{spec.name}")
    folder = tune_folder(ws, name)
    url = options.storage or default_url(folder)
    return TunePlan(name, folder, url, StudySettings.of(options, model.name, forget.name, space), space, model,
                    forget, options, _defaults(choice, model, space))


def _defaults(choice: Any, model: Manifest, space: dict[str, Range]) -> dict[str, Any]:
    """The space's keys at an ordinary run's values; empty if any lies outside its range."""
    from unlearn_cli.methods.training import recipe_from_config, resolve_training
    from unlearn_cli.train.options import GenericOptions

    own = recipe_from_config(model.config, str(model.source)) if "recipe" in model.config else None
    training = resolve_training(choice.spec, choice.params, own, GenericOptions(),
                                choice.preset.recipe_fields(choice.params) if choice.preset else None)
    known: dict[str, Any] = dict(asdict(choice.params))
    if training is not None:
        recipe = training.recipe
        known.update(lr=recipe.optimizer.lr, epochs=recipe.epochs, weight_decay=recipe.optimizer.weight_decay,
                     batch_size=recipe.batch_size)
    values = {key: known.get(key) for key in space}
    return values if all(_inside(value, r) for value, r in zip(values.values(), space.values())) else {}


def _inside(value: Any, r: Range) -> bool:
    if r.choices is not None:
        return value in r.choices
    return isinstance(value, (int, float)) and not isinstance(value, bool) and r.low <= value <= r.high


def _quiet_optuna() -> None:
    """Our own line per trial instead of Optuna's; its "experimental" notes (the heartbeat, the
    matplotlib plots) are not the user's concern."""
    import warnings

    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)


def _require_optuna() -> None:
    try:
        import optuna  # noqa: F401
    except ImportError:
        raise InputError("unlearn tune needs Optuna, which is not installed", hint=INSTALL_HINT) from None


def run_tune(ws: Workspace, options: TuneOptions) -> Path | None:
    """Run the study to `options.trials` finished trials and write its outputs; returns the
    manifest path (None when another process is writing the outputs of the same study)."""
    _require_optuna()
    import optuna

    _quiet_optuna()
    plan = plan_tune(ws, options)
    plan.folder.mkdir(parents=True, exist_ok=True)
    storage = open_storage(plan.url)
    study = open_study(storage, plan.name, plan.settings, sampler_seed=options.sampler_seed, force=options.force,
                       first=plan.defaults)
    _make_retrains(ws, plan, options.seeds)
    killed = fail_dead_trials(study)
    if killed:
        log.warning("study %s: %d trial(s) of a killed run marked failed", plan.name, killed)
    remaining = options.trials - finished_count(study)
    if remaining > 0:
        log.info("study %s: %d of %d trials to run (%s)", plan.name, remaining, options.trials, masked(plan.url, plan.url))
        if options.jobs == 1:
            _optimize(ws.root, plan, threads=None)
        else:
            _optimize_in_workers(ws.root, plan)
    else:
        log.info("study %s: all %d trials have run", plan.name, options.trials)
    study = optuna.load_study(study_name=plan.name, storage=storage)
    return _finish(ws, plan, study)


def _make_retrains(ws: Workspace, plan: TunePlan, seeds: tuple[int, ...]) -> None:
    """The forget set's retrain at each seed (made once; an existing one is found)."""
    with output_to(str(plan.folder / "logs" / "retrains.log")):
        for seed in seeds:
            made_once(ws, retrain_options(plan.model, plan.forget, seed, plan.options.device))


def _optimize(root: Path, plan: TunePlan, threads: int | None, worker: int = 0) -> None:
    """Run trials in this process until the study has `trials` finished ones. Each worker's
    sampler has its own seed, so parallel workers do not draw the same first values."""
    import optuna
    from optuna.study import MaxTrialsCallback
    from optuna.trial import TrialState

    from unlearn_cli.steps.validation import ValidationScorer

    if threads is not None:
        import torch

        torch.set_num_threads(threads)
    ws = Workspace(root)
    options = plan.options
    storage = open_storage(plan.url)
    study = optuna.load_study(study_name=plan.name, storage=storage,
                              sampler=sampler_for(options.objective, options.sampler_seed + worker))
    runner = TrialRunner(ws, options.method, plan.model, plan.forget, options.preset, tuple(options.seeds),
                         options.objective, plan.space, options.device,
                         ValidationScorer(ws, plan.model, plan.forget, options.device), plan.folder / "logs")
    remaining = options.trials - finished_count(study)
    if remaining <= 0:
        return
    study.optimize(runner, n_trials=remaining, catch=(UnlearnError,),
                   callbacks=[MaxTrialsCallback(options.trials, states=(TrialState.COMPLETE, TrialState.FAIL,
                                                                        TrialState.PRUNED)),
                              _Progress(options.trials, options.objective)])


class _Progress:
    """One stderr line per finished trial: its number, value, state and the best so far."""

    def __init__(self, total: int, objective_name: str) -> None:
        self.total = total
        self.objective_name = objective_name

    def __call__(self, study: Any, trial: Any) -> None:
        done = finished_count(study)
        best = best_trial(study, self.objective_name)
        best_text = "none yet" if best is None else f"{best.user_attrs.get('avg_gap', float('nan')):.3f} (trial {best.number})"
        if trial.state.name == "COMPLETE":
            value = f"avg_gap {trial.user_attrs.get('avg_gap', float('nan')):.3f}"
        else:
            value = f"{trial.state.name.lower()}: {trial.user_attrs.get('error', 'see the log')}"
        seconds = trial.user_attrs.get("wall_seconds")
        line = (f"trial {trial.number} ({done}/{self.total}): {value}; best {best_text}"
                + (f"; {seconds:.1f} s" if isinstance(seconds, float) else ""))
        stderr_console().print(line, highlight=False, markup=False, soft_wrap=True)


def _worker(root: str, plan: TunePlan, threads: int, worker: int) -> None:
    # The parent handles Ctrl-C by ending the workers; a worker's interrupted trial is failed
    # by Optuna on the way out (SIGTERM is raised as KeyboardInterrupt below).
    def stop(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    # A spawned process starts without the parent's logging and warning filters.
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    _quiet_optuna()
    try:
        _optimize(Path(root), plan, threads=threads, worker=worker)
    except KeyboardInterrupt:
        pass


def _optimize_in_workers(root: Path, plan: TunePlan) -> None:
    from unlearn_cli.train.threads import choose_threads, configure_openmp

    jobs = plan.options.jobs
    threads = max(1, choose_threads() // jobs)
    environment = {"OMP_NUM_THREADS": str(threads)}
    configure_openmp(environment)
    os.environ.update(environment)  # the spawned workers inherit it before importing torch
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_worker, args=(str(root), plan, threads, i), name=f"unlearn-tune-{i}")
               for i in range(jobs)]
    for worker in workers:
        worker.start()
    try:
        for worker in workers:
            worker.join()
    except KeyboardInterrupt:
        for worker in workers:
            if worker.is_alive():
                worker.terminate()
        for worker in workers:
            worker.join()
        raise
    failed = [w.name for w in workers if w.exitcode not in (0, None)]
    if failed:
        raise UnlearnError(f"tuning worker(s) {', '.join(failed)} stopped with an error",
                           hint="the study keeps every finished trial: run the same command again to continue")


def _finish(ws: Workspace, plan: TunePlan, study: Any) -> Path | None:
    """Re-run the best trial on fresh seeds with its full evaluation; write tune/<study>/."""
    options = plan.options
    best = best_trial(study, options.objective)
    trials = study.get_trials(deepcopy=False)
    summary: dict[str, Any] = {
        "study": plan.name, "storage": masked(plan.url, plan.url), "method": options.method,
        "objective": options.objective, "space": describe_space(plan.space),
        "trials": {state: sum(t.state.name == state for t in trials) for state in ("COMPLETE", "FAIL", "RUNNING")},
        "seeds": list(options.seeds),
    }
    default = next((t for t in trials if t.user_attrs.get("defaults") and t.state.name == "COMPLETE"), None)
    if default is not None:
        summary["defaults"] = {"trial": default.number, "values": dict(default.params),
                               "gaps": default.user_attrs.get("gaps"), "avg_gap": default.user_attrs.get("avg_gap")}
    evaluations: list[Manifest] = []
    if best is None:
        log.warning("study %s: no trial completed, so there is no best preset", plan.name)
    else:
        summary["best"] = {"trial": best.number, "values": dict(best.params), "gaps": best.user_attrs.get("gaps"),
                           "avg_gap": best.user_attrs.get("avg_gap"), "runs": best.user_attrs.get("runs")}
        fresh = options.fresh_seeds()
        _make_retrains(ws, plan, fresh)
        with output_to(str(plan.folder / "logs" / "final.log")):
            for seed in fresh:
                run = made_once(ws, run_options(options.method, plan.model, plan.forget, options.preset,
                                                dict(best.params), seed, options.device))
                reference = retrain_options(plan.model, plan.forget, seed, options.device).name
                evaluations.append(_evaluated(ws, EvaluateOptions(run=ws.read("unlearned", run).name,
                                                                  reference=reference, seed=seed,
                                                                  device=options.device)))
        summary["final"] = _final_summary(evaluations, fresh)
    return _write(ws, plan, study, trials, best, summary, evaluations)


def _evaluated(ws: Workspace, options: EvaluateOptions) -> Manifest:
    """The full evaluation (the test split's only reader in a study); another process of the
    study making the same one is waited for."""
    from unlearn_cli.steps.evaluate import evaluate

    while True:
        try:
            return ws.read("evaluation", evaluate(ws, options).manifest_path)
        except ArtifactBusyError:
            time.sleep(BUSY_POLL_S)


def _final_summary(evaluations: list[Manifest], seeds: tuple[int, ...]) -> dict[str, Any]:
    """The best values on fresh seeds: every metric's mean and the per-seed values. Test-split
    metrics are reported here and never fed back into the study."""
    keys = sorted({key for e in evaluations for key, value in e.summary.items() if isinstance(value, (int, float))})
    per_seed = {key: [e.summary.get(key) for e in evaluations] for key in keys}
    means = {key: sum(v for v in values if v is not None) / max(1, sum(v is not None for v in values))
             for key, values in per_seed.items()}
    return {"seeds": list(seeds), "evaluations": [e.name for e in evaluations], "mean": means, "per_seed": per_seed}


def _write(ws: Workspace, plan: TunePlan, study: Any, trials: list[Any], best: Any, summary: dict[str, Any],
           evaluations: list[Manifest]) -> Path | None:
    options = plan.options
    try:
        ws.check_new("tune", plan.name, force=True)
    except ArtifactError as error:
        log.warning("study %s: %s; its outputs are left to that process", plan.name, error.message)
        return None
    folder = plan.folder
    paths = {"summary": folder / SUMMARY_JSON, "trials": folder / outputs.TRIALS_PARQUET}
    if best is not None:
        paths["preset"] = best_preset_path(ws, plan.name)
    drawn, skipped = outputs.draw_plots(study, folder, options.objective) if options.plots else ({}, {})
    summary["plots_skipped"] = skipped
    dataset = plan.model.config.get("dataset", "")
    with ws.replacing("tune", plan.name, [*paths.values(), *drawn.values()]):
        save_table(paths["trials"], outputs.trials_table(trials, list(plan.space), options.objective))
        if best is not None:
            preset = outputs.best_preset(plan.name, options.method, dict(best.params), options.preset, dataset,
                                         f"tuned by unlearn tune --study {plan.name} on {plan.forget.name}")
            comment = (f"unlearn tune --study {plan.name}: trial {best.number} of {len(trials)}, "
                       f"avg_gap {best.user_attrs.get('avg_gap', float('nan')):.4f} on validation\n"
                       f"use: unlearn unlearn --method {options.method} --preset {ws.rel(paths['preset'])} ...")
            from unlearn_cli.methods.preset_files import preset_text

            atomic_write_bytes(paths["preset"], preset_text(preset, comment).encode())
            summary["preset"] = ws.rel(paths["preset"])
        atomic_write_bytes(paths["summary"], (json.dumps(_clean(summary), indent=2) + "\n").encode())
        files = {role: ws.file_ref(path) for role, path in {**paths, **{f"plot_{k}": p for k, p in drawn.items()}}.items()}
        parents = {"model": ws.parent_ref(plan.model), "forget": ws.parent_ref(plan.forget)}
        for evaluation in evaluations:
            parents[evaluation.name] = ws.parent_ref(evaluation)
        config = {**plan.settings.to_attrs(), "storage": masked(plan.url, plan.url), "trials": options.trials,
                  "final_seeds": list(options.fresh_seeds()), "sampler_seed": options.sampler_seed,
                  "options": _clean({k: v for k, v in asdict(options).items() if k not in ("storage", "force")})}
        manifest = Manifest(kind="tune", name=plan.name, parents=parents, config=config, files=files,
                            summary=_clean({k: summary[k] for k in ("trials", "defaults", "best", "final") if k in summary}))
        return ws.write(manifest)


def _clean(value: Any) -> Any:
    """JSON-safe: NaN/inf become None, tuples lists, numpy scalars numbers."""
    return json.loads(json.dumps(value, default=lambda v: v.item() if hasattr(v, "item") else str(v)),
                      parse_constant=lambda _: None)
