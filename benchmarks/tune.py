"""The cost and gain of `unlearn tune` on the CPU: a study of N trials for each of several
methods on digits, end to end, each as its own `unlearn tune` process.

One run prepares digits, pretrains the cnn with a 10 % validation split and draws its random
10 % forget set (in this process, not timed), then for each method runs

    unlearn tune --method M --forget F --trials N --jobs J --study bench-M

and reports its wall seconds end to end (CLI start-up, the retrains, every trial, the best
trial's re-run on 3 fresh seeds and its evaluation, the plots), trials per minute, the
objective (validation avg_gap to retrain) of the method's default settings (the study's trial
0) and of the best trial, and the best trial's full evaluation on the fresh seeds (test
metrics, reported, never tuned on) beside the default settings' evaluation on the same seeds.

Nothing here is a timed test; the figures go to BENCHMARKS.md ("Tuning (CPU)").

Examples (from the repository root):
    python -m benchmarks.tune                                     # scrub, salun, natmu × 30 trials
    python -m benchmarks.tune --methods finetune --trials 4 --width 0.25 --epochs 2 --json   # a smoke
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

MODEL = "digits-cnn-val0.1-s0"
FORGET = f"{MODEL}-frac0.1-s0"
SHOWN = ("FA", "RA", "TA", "VA", "mia_entropy", "avg_gap")


def _unlearn(ws: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "UNLEARN_WORKSPACE": str(ws)}
    return subprocess.run([sys.executable, "-m", "unlearn_cli", *args], env=env, capture_output=True, text=True,
                          check=False)


def _checked(ws: Path, *args: str) -> str:
    result = _unlearn(ws, *args)
    if result.returncode != 0:
        raise SystemExit(f"unlearn {' '.join(args)} failed:\n{result.stderr}")
    return result.stdout.strip()


def setup(ws: Path, width: float, epochs: int | None, device: str) -> dict[str, float]:
    """digits, the cnn with a validation split and its random 10 %: made once per workdir, in
    this process (not timed)."""
    from unlearn_cli.artifacts import Workspace
    from unlearn_cli.steps.forget_set import make_forget_set
    from unlearn_cli.steps.options import ForgetSetOptions, PrepareOptions, PretrainOptions
    from unlearn_cli.steps.prepare_data import prepare_dataset
    from unlearn_cli.steps.pretrain import pretrain

    started = time.perf_counter()
    workspace = Workspace.at(ws)
    prepare_dataset(workspace, PrepareOptions(dataset="digits"))
    pretrain(workspace, PretrainOptions(dataset="digits", model="cnn", width=width, epochs=epochs, val_fraction=0.1,
                                        device=device, name=MODEL))
    make_forget_set(workspace, ForgetSetOptions(model=MODEL, kind="fraction", params={"fraction": 0.1},
                                                device=device))
    return {"setup_seconds": time.perf_counter() - started}


def _mean_metrics(ws: Path, names: list[str]) -> dict[str, float]:
    values: dict[str, list[float]] = {}
    for name in names:
        summary = json.loads((ws / "manifests" / "evaluation" / f"{name}.json").read_text())["summary"]
        for key in SHOWN:
            if isinstance(summary.get(key), (int, float)):
                values.setdefault(key, []).append(float(summary[key]))
    return {key: sum(v) / len(v) for key, v in values.items()}


def defaults_on_fresh_seeds(ws: Path, method: str, seeds: list[int], device: str) -> dict[str, float]:
    """The method's default settings on the study's fresh seeds, evaluated against the same
    retrains (in this process: not part of the study's time)."""
    from unlearn_cli.artifacts import Workspace
    from unlearn_cli.steps.evaluate import evaluate
    from unlearn_cli.steps.options import EvaluateOptions, UnlearnOptions
    from unlearn_cli.steps.unlearn import unlearn

    workspace = Workspace.at(ws)
    names = []
    for seed in seeds:
        run = workspace.read("unlearned", unlearn(workspace, UnlearnOptions(method=method, forget=FORGET, seed=seed,
                                                                            device=device)))
        result = evaluate(workspace, EvaluateOptions(run=run.name, reference=f"{FORGET}-retrain-s{seed}", seed=seed,
                                                     device=device))
        names.append(result.manifest_path.stem)
    return _mean_metrics(ws, names)


def study(ws: Path, method: str, trials: int, jobs: int, device: str, fresh: int) -> dict[str, Any]:
    name = f"bench-{method}"
    started = time.perf_counter()
    _checked(ws, "tune", "--method", method, "--forget", FORGET, "--trials", str(trials), "--jobs", str(jobs),
             "--device", device, "--study", name, "--final-seeds", ",".join(str(1 + i) for i in range(fresh)))
    wall = time.perf_counter() - started
    summary = json.loads((ws / "tune" / name / "summary.json").read_text())
    fresh = summary["final"]["seeds"]
    return {
        "method": method,
        "wall_seconds": wall,
        "trials": summary["trials"],
        "trials_per_minute": trials / wall * 60,
        "default_avg_gap": (summary.get("defaults") or {}).get("avg_gap"),
        "best_avg_gap": summary["best"]["avg_gap"],
        "best_trial": summary["best"]["trial"],
        "best_values": summary["best"]["values"],
        "fresh_seeds": fresh,
        "best_fresh": {key: summary["final"]["mean"].get(key) for key in SHOWN},
        "default_fresh": defaults_on_fresh_seeds(ws, method, fresh, device),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--methods", nargs="+", default=["scrub", "salun", "natmu"])
    parser.add_argument("--trials", type=int, default=30)
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--width", type=float, default=1.0)
    parser.add_argument("--epochs", type=int, default=None, help="pretraining epochs (default: the fast recipe's)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--fresh-seeds", type=int, default=3, help="seeds the best trial is re-run on")
    parser.add_argument("--workdir", type=Path, default=None, help="keep the workspace here (default: a temporary one)")
    parser.add_argument("--json", action="store_true", help="print the raw figures as JSON")
    args = parser.parse_args(argv)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="unlearn-tune-bench-"))
    ws = workdir / "ws"
    ws.mkdir(parents=True, exist_ok=True)
    result: dict[str, Any] = {
        "config": {**{k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
                   "python": platform.python_version(), "cpu_count": os.cpu_count(),
                   "load_average": os.getloadavg()[0]},
        "setup": setup(ws, args.width, args.epochs, args.device),
        "studies": [],
    }
    for method in args.methods:
        result["studies"].append(study(ws, method, args.trials, args.jobs, args.device, args.fresh_seeds))
        print(f"{method}: {result['studies'][-1]['wall_seconds']:.0f} s", file=sys.stderr, flush=True)
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print("| method | wall | trials/min | default avg_gap (val) | best avg_gap (val) | best values |")
    print("|---|---|---|---|---|---|")
    for s in result["studies"]:
        print(f"| {s['method']} | {s['wall_seconds']:.0f} s | {s['trials_per_minute']:.1f} | "
              f"{s['default_avg_gap']} | {s['best_avg_gap']:.2f} | {s['best_values']} |")


if __name__ == "__main__":
    main()
