"""Accuracy parity of the speed switches: bf16 autocast + channels_last against fp32.

Two settings, each over several seeds, each seed trained twice (switches on, switches off)
from the same initial weights:

- digits: the default model (`cnn`, recipe `fast`) on the embedded digits set;
- cifar: a small ResNet-18 (width 0.25) on a CIFAR-10-format fixture that can be learnt
  (`write_learnable_cifar10`: class patterns under heavy noise; the noise images of the
  throughput benchmark would give chance accuracy whatever the arithmetic does).

For every trained model it also evaluates a random 10 % forget set twice, with the switches
on and off, and reports the largest difference of any metric between the two evaluations.

    python -m benchmarks.parity --json > parity.json
    python -m benchmarks.parity --settings digits --seeds 0 1 2
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import torch

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import run_cli
from benchmarks.synthetic_cifar import write_learnable_cifar10
from unlearn_cli.artifacts import Workspace
from unlearn_cli.errors import InputError
from unlearn_cli.steps.evaluate import evaluate
from unlearn_cli.steps.forget_set import make_forget_set
from unlearn_cli.steps.options import EvaluateOptions, ForgetSetOptions, PrepareOptions, PretrainOptions
from unlearn_cli.steps.prepare_data import prepare_dataset
from unlearn_cli.steps.pretrain import pretrain
from unlearn_cli.train.device import cpu_has_native_bf16

SWITCHES = {"on": {"amp": True, "channels_last": True}, "off": {"amp": False, "channels_last": False}}


@dataclass(frozen=True)
class Setting:
    dataset: str
    model: str
    width: float
    epochs: int | None  # None: the recipe's
    batch_size: int | None = None


SETTINGS = {
    "digits": Setting("digits", "cnn", 1.0, None),
    "cifar": Setting("cifar10", "resnet18", 0.25, 6, 128),
}


def _workspace(root: Path, setting: Setting, cifar_train: int, cifar_test: int) -> Workspace:
    ws = Workspace.at(root)
    if setting.dataset == "digits":
        prepare_dataset(ws, PrepareOptions(dataset="digits"))
    else:
        source = write_learnable_cifar10(root.parent / "source", cifar_train, cifar_test, seed=0)
        prepare_dataset(ws, PrepareOptions(dataset="cifar10", source=source))
    return ws


def _train_and_evaluate(ws: Workspace, setting: Setting, seed: int, trained_with: str, device: str) -> dict:
    name = f"{setting.model}-s{seed}-{trained_with}"
    started = time.perf_counter()
    path = pretrain(ws, PretrainOptions(dataset=setting.dataset, model=setting.model, width=setting.width,
                                        epochs=setting.epochs, batch_size=setting.batch_size, seed=seed,
                                        device=device, name=name, **SWITCHES[trained_with]))
    train_seconds = time.perf_counter() - started
    model = ws.read("model", path.stem)
    forget = make_forget_set(ws, ForgetSetOptions(model=name, kind="per", params={"per": 10}, seed=seed,
                                                  name=f"{name}-f10"))
    metrics = {}
    for evaluated_with, switches in SWITCHES.items():
        result = evaluate(ws, EvaluateOptions(run=name, forget=str(forget), name=f"{name}-eval-{evaluated_with}",
                                              device=device, seed=seed, **switches))
        metrics[evaluated_with] = result.metrics
    differences = {k: abs(metrics["on"][k] - metrics["off"][k]) for k in metrics["on"]
                   if math.isfinite(metrics["on"][k]) and math.isfinite(metrics["off"][k])}
    return {
        "seed": seed, "trained_with": trained_with,
        "test_accuracy": model.summary["test_accuracy"],  # as pretrain measured it (its own switches)
        "test_accuracy_fp32_eval": metrics["off"]["TA"] if "TA" in metrics["off"] else None,
        "train_seconds": train_seconds, "wall_seconds": model.summary["wall_seconds"],
        "eval_metrics": metrics, "eval_max_difference": max(differences.values()),
        "eval_worst_metric": max(differences, key=differences.get),
    }


def run_parity(settings: Sequence[str], seeds: Sequence[int], device: str, cifar_train: int,
               cifar_test: int, trained_with: Sequence[str] = tuple(SWITCHES), cifar_epochs: int | None = None) -> dict:
    results = {}
    for key in settings:
        setting = SETTINGS[key]
        if key == "cifar" and cifar_epochs is not None:
            setting = replace(setting, epochs=cifar_epochs)
        with tempfile.TemporaryDirectory(prefix=f"unlearn-parity-{key}-") as tmp:
            ws = _workspace(Path(tmp) / "ws", setting, cifar_train, cifar_test)
            runs = [_train_and_evaluate(ws, setting, seed, switches, device)
                    for seed in seeds for switches in trained_with]
        summary = {}
        for trained_with in sorted({r["trained_with"] for r in runs}, reverse=True):
            accuracies = [r["test_accuracy"] for r in runs if r["trained_with"] == trained_with]
            summary[trained_with] = {
                "mean": statistics.fmean(accuracies),
                "std": statistics.stdev(accuracies) if len(accuracies) > 1 else 0.0,
                "accuracies": accuracies,
                "train_seconds": [r["train_seconds"] for r in runs if r["trained_with"] == trained_with],
            }
        results[key] = {
            "setting": setting.__dict__, "runs": runs, "test_accuracy": summary,
            "eval_max_difference": max(r["eval_max_difference"] for r in runs),
        }
    return {
        "machine": {"cpu_native_bf16": cpu_has_native_bf16(), "torch_threads": torch.get_num_threads(),
                    "cpu_count": os.cpu_count(), "torch": torch.__version__, "python": platform.python_version(),
                    "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None},
        "seeds": list(seeds), "cifar_train": cifar_train, "cifar_test": cifar_test, "results": results,
    }


def format_report(report: dict) -> str:
    lines = []
    for key, result in report["results"].items():
        s = result["setting"]
        lines.append(f"{key}: {s['model']} width {s['width']} on {s['dataset']}, seeds {report['seeds']}")
        for trained_with, acc in result["test_accuracy"].items():
            values = ", ".join(f"{a:.2f}" for a in acc["accuracies"])
            seconds = ", ".join(f"{t:.0f}" for t in acc["train_seconds"])
            lines.append(f"  switches {trained_with:3}: test accuracy {acc['mean']:.2f} ± {acc['std']:.2f} "
                         f"({values}); pretrain seconds {seconds}")
        worst = max(result["runs"], key=lambda r: r["eval_max_difference"])
        lines.append(f"  evaluation on vs off, largest metric difference: {result['eval_max_difference']:.3f} points "
                     f"({worst['eval_worst_metric']}, seed {worst['seed']}, trained {worst['trained_with']})")
    lines.append(f"load average {report['machine']['load_average']}")
    return "\n".join(lines)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m benchmarks.parity", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--settings", nargs="+", choices=list(SETTINGS), default=list(SETTINGS))
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--device", default="cpu")
    p.add_argument("--cifar-train", type=int, default=5000, help="fixture training images (default %(default)s)")
    p.add_argument("--cifar-test", type=int, default=1000, help="fixture test images (default %(default)s)")
    p.add_argument("--trained-with", nargs="+", choices=list(SWITCHES), default=list(SWITCHES),
                   help="train with the switches on, off or both (default both)")
    p.add_argument("--cifar-epochs", type=int, default=None, help="override the cifar setting's 6 epochs")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    p.add_argument("--json", action="store_true")
    return p


def main(argv: Sequence[str] | None = None) -> dict:
    args = _parser().parse_args(argv)
    if args.threads is not None:
        if args.threads < 1:
            raise InputError(f"--threads must be at least 1 (got {args.threads})")
        torch.set_num_threads(args.threads)
    report = run_parity(args.settings, args.seeds, args.device, args.cifar_train, args.cifar_test,
                        args.trained_with, args.cifar_epochs)
    print(json.dumps(report, indent=2) if args.json else format_report(report))
    return report


def cli() -> int:
    return run_cli(main)


if __name__ == "__main__":
    sys.exit(cli())
