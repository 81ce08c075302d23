"""`unlearn tune`: wiring only; the work is in `unlearn_cli.tune`."""

from __future__ import annotations

import json
from typing import Annotated, Optional

import typer

from unlearn_cli.cli.options import DeviceOption, ForceOption, WorkspaceOption, workspace
from unlearn_cli.cli.output import emit_path, stderr
from unlearn_cli.errors import InputError


def _seeds(text: str, flag: str) -> tuple[int, ...]:
    try:
        return tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise InputError(f"{flag} {text!r} is not a comma-separated list of integers", hint=f"e.g. {flag} 0,1") from None


def tune(
    method: Annotated[str, typer.Option("--method", help="The method to tune (its search space: `unlearn ls methods`).")],
    forget: Annotated[Optional[str], typer.Option("--forget", "-f", help="Forget set (name or manifest path), made from a model pretrained with --val-fraction.")] = None,
    model: Annotated[Optional[str], typer.Option("--model", "-m", help="The pretrained model (default: the one the forget set was made from).")] = None,
    trials: Annotated[int, typer.Option("--trials", "-n", help="Finished trials the study should have (a re-run runs only the missing ones).")] = 20,
    seeds: Annotated[str, typer.Option("--seeds", help="Unlearning seeds each trial runs and averages, comma-separated.")] = "0",
    space: Annotated[Optional[list[str]], typer.Option("--space", help="Override one key of the method's space: key=lo:hi, key=lo:hi:log or key=a,b,c (repeatable).")] = None,
    objective: Annotated[str, typer.Option("--objective", help="avg_gap: mean of |ΔRA|, |ΔFA|, |ΔVA|, |Δmia_entropy| to retrain (TPE); nsga: the four minimised apart (NSGA-II), best = smallest norm.")] = "avg_gap",
    preset: Annotated[Optional[str], typer.Option("--preset", help="Start every trial from this preset (a name from `unlearn ls presets`, or a .toml file).")] = None,
    study: Annotated[Optional[str], typer.Option("--study", help="Study name: writes tune/<study>/ (default <forget set>-<method>).")] = None,
    storage: Annotated[Optional[str], typer.Option("--storage", help="Optuna storage shared by every process of the study: an RDB URL (postgresql://user:pw@host/db) or journal:PATH (default: SQLite in tune/<study>/).")] = None,
    jobs: Annotated[int, typer.Option("--jobs", "-j", help="Trials run at once on this machine (worker processes sharing the cores).")] = 1,
    final_seeds: Annotated[Optional[str], typer.Option("--final-seeds", help="Fresh seeds the best trial is re-run and fully evaluated on (default: the 3 after --seeds).")] = None,
    sampler_seed: Annotated[int, typer.Option("--sampler-seed", help="Seed of the sampler (TPE or NSGA-II).")] = 0,
    plots: Annotated[bool, typer.Option("--plots/--no-plots", help="Draw Optuna's history, parallel-coordinate and importance plots.")] = True,
    json_output: Annotated[bool, typer.Option("--json", help="Print the study's summary as JSON instead of the manifest path.")] = False,
    device: DeviceOption = None,
    force: ForceOption = False,
    workspace_path: WorkspaceOption = None,
) -> None:
    """Search a method's hyperparameters with Optuna against the retrain of the forget set, on
    the model's validation split (never the test split); writes tune/<study>/ with the best
    values as a preset file, every trial in trials.parquet and Optuna's plots.

    Example: unlearn tune --method finetune --forget digits-cnn-val0.05-s0-random10-s0 --trials 30

    Several machines, one study: unlearn tune --method salun --forget F --study salun-F --storage postgresql://user:pw@db/optuna
    """
    from unlearn_cli.steps.options import TuneOptions
    from unlearn_cli.tune.run import run_tune

    options = TuneOptions(method=method, forget=forget, model=model, trials=trials, seeds=_seeds(seeds, "--seeds"),
                          space=tuple(space or ()), objective=objective, preset=preset, study=study, storage=storage,
                          jobs=jobs, final_seeds=_seeds(final_seeds, "--final-seeds") if final_seeds else None,
                          sampler_seed=sampler_seed, plots=plots, device=device, force=force)
    ws = workspace(workspace_path)
    path = run_tune(ws, options)
    if path is None:
        stderr.print("another process is writing this study's outputs; its trials are in the storage",
                     highlight=False, markup=False)
        return
    manifest = ws.read("tune", path)
    summary = json.loads((path.parent / "summary.json").read_text())
    if json_output:
        typer.echo(json.dumps(summary, indent=2))
        return
    best = summary.get("best")
    if best:
        stderr.print(f"best: trial {best['trial']}, avg_gap {best['avg_gap']:.3f} on validation; "
                     f"values {best['values']}", highlight=False, markup=False, soft_wrap=True)
        final = summary.get("final", {}).get("mean", {})
        shown = ", ".join(f"{key} {final[key]:.2f}" for key in ("FA", "RA", "TA", "avg_gap", "mia_entropy") if key in final)
        stderr.print(f"re-run on fresh seeds {summary['final']['seeds']}: {shown} (test metrics: reported, never tuned on)",
                     highlight=False, markup=False, soft_wrap=True)
        stderr.print(f"preset: {summary['preset']}", highlight=False, markup=False, soft_wrap=True)
    emit_path(manifest.source)
