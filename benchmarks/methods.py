"""The cost of every unlearning method: wall seconds and RTE against retrain, on one setting.

One run builds a temporary workspace, prepares the data (the embedded digits set, or a
full-size synthetic CIFAR-10 in the official layout), pretrains one model, draws a 10 %
class-balanced forget set, then runs every registered method — retrain first, since RTE is
retrain's wall seconds over the method's — with its defaults (or `--epochs E` for all
training methods but retrain). Each run's wall seconds are the manifest's: the method's whole
run (mask building, importance passes and training included), not loading, compilation
warm-up excluded. With `--evaluate` (the default) every run is also evaluated against retrain,
so the table shows what the time bought (FA, TA, avg_gap).

Examples (from the repository root):
    python -m benchmarks.methods --dataset digits
    python -m benchmarks.methods --dataset cifar10 --model cnn --pretrain-epochs 3
    python -m benchmarks.methods --dataset cifar10 --model resnet18 --device cuda --json
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.synthetic_cifar import write_synthetic_cifar10
from unlearn_cli.artifacts import Workspace
from unlearn_cli.methods import METHODS
from unlearn_cli.steps.evaluate import evaluate
from unlearn_cli.steps.forget_set import make_forget_set
from unlearn_cli.steps.options import EvaluateOptions, ForgetSetOptions, PrepareOptions, PretrainOptions, UnlearnOptions
from unlearn_cli.steps.prepare_data import prepare_dataset
from unlearn_cli.steps.pretrain import pretrain
from unlearn_cli.steps.unlearn import unlearn
from unlearn_cli.train.options import GenericOptions

FORGET = "bench-f10"
REPORTED = ("FA", "RA", "TA", "avg_gap")


@dataclass
class MethodTiming:
    method: str
    wall_seconds: float
    steps: int
    rte: float | None = None
    metrics: dict[str, float] = field(default_factory=dict)


@dataclass
class MethodsBench:
    config: dict[str, Any]
    setup: dict[str, float]
    pretrain: dict[str, Any]
    methods: list[MethodTiming]


def _prepare(ws: Workspace, dataset: str, train_size: int, test_size: int, root: Path) -> float:
    started = time.perf_counter()
    if dataset == "digits":
        prepare_dataset(ws, PrepareOptions(dataset="digits"))
    else:
        source = write_synthetic_cifar10(root / "source", train_size, test_size)
        prepare_dataset(ws, PrepareOptions(dataset="cifar10", source=source))
    return time.perf_counter() - started


def run_bench(args: argparse.Namespace) -> MethodsBench:
    methods = args.methods or METHODS.names()
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        raise SystemExit(f"unknown methods: {', '.join(unknown)} (valid: {', '.join(METHODS.names())})")
    if "retrain" not in methods:
        methods = ["retrain", *methods]  # RTE needs it
    methods = ["retrain", *[m for m in methods if m != "retrain"]]
    with tempfile.TemporaryDirectory(prefix="unlearn-bench-") as tmp:
        root = Path(tmp)
        ws = Workspace.at(root / "ws")
        prepare_s = _prepare(ws, args.dataset, args.train_size, args.test_size, root)
        model_path = pretrain(ws, PretrainOptions(
            dataset=args.dataset, model=args.model, width=args.width, recipe=args.recipe, epochs=args.pretrain_epochs,
            device=args.device, seed=args.seed, amp=args.amp, channels_last=args.channels_last, compile=args.compile))
        model = ws.read("model", model_path.stem)
        make_forget_set(ws, ForgetSetOptions(model=model.name, kind="per", params={"per": 10}, name=FORGET,
                                             seed=args.seed))
        timings: list[MethodTiming] = []
        for method in methods:
            trains = METHODS.get(method).trains
            generic = GenericOptions(epochs=args.epochs) if trains and args.epochs and method != "retrain" \
                else GenericOptions()
            path = unlearn(ws, UnlearnOptions(method=method, forget=FORGET, generic=generic, seed=args.seed,
                                              device=args.device, amp=args.amp, channels_last=args.channels_last,
                                              compile=args.compile))
            run = ws.read("unlearned", path.stem)
            timing = MethodTiming(method, float(run.summary["wall_seconds"]), int(run.summary["steps"]))
            timings.append(timing)
            print(f"{method:16s} {timing.wall_seconds:9.2f} s  {timing.steps:6d} steps", file=sys.stderr)
        retrain_s = timings[0].wall_seconds
        for timing in timings:
            timing.rte = retrain_s / timing.wall_seconds if timing.wall_seconds > 0 else None
        if args.evaluate:
            for timing in timings:
                name = f"{FORGET}-{timing.method}-s{args.seed}"
                metrics = evaluate(ws, EvaluateOptions(run=name, reference=f"{FORGET}-retrain-s{args.seed}",
                                                       metrics=REPORTED, device=args.device)).metrics
                timing.metrics = {k: metrics[k] for k in REPORTED if k in metrics}
        import torch

        config = {
            "dataset": args.dataset, "model": args.model, "width": args.width, "recipe": args.recipe,
            "pretrain_epochs": args.pretrain_epochs, "epochs_override": args.epochs, "seed": args.seed,
            "train_size": ws.read("dataset", args.dataset).summary["train_size"],
            "device": str(model.config["device"]), "speed": model.config["speed"],
            "torch": torch.__version__, "python": platform.python_version(),
            "cpu_threads": torch.get_num_threads(),
            "gpu": torch.cuda.get_device_name() if torch.cuda.is_available() else None,
        }
        return MethodsBench(config=config, setup={"prepare_seconds": prepare_s},
                            pretrain={k: model.summary[k] for k in ("wall_seconds", "steps", "test_accuracy")},
                            methods=timings)


def format_table(bench: MethodsBench) -> str:
    c = bench.config
    lines = [f"{c['dataset']} ({c['train_size']} train rows), {c['model']} width {c['width']}, 10 % forget set, "
             f"on {c['device']} (speed {c['speed']}); pretrain {bench.pretrain['wall_seconds']:.1f} s, "
             f"test acc {bench.pretrain['test_accuracy']:.2f} %",
             "| method | wall s | steps | RTE | FA | RA | TA | avg_gap |", "|---|---|---|---|---|---|---|---|"]
    for t in bench.methods:
        m = t.metrics
        cells = [f"{m[k]:.2f}" if k in m else "" for k in REPORTED]
        lines.append(f"| {t.method} | {t.wall_seconds:.2f} | {t.steps} | {t.rte:.2f} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m benchmarks.methods", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dataset", choices=("digits", "cifar10"), default="digits")
    p.add_argument("--model", default="cnn", help="architecture (default %(default)s)")
    p.add_argument("--width", type=float, default=1.0, help="width multiplier (default %(default)s)")
    p.add_argument("--recipe", default="fast", help="pretraining recipe (default %(default)s)")
    p.add_argument("--pretrain-epochs", type=int, default=None, help="override the recipe's epochs")
    p.add_argument("--epochs", type=int, default=None,
                   help="epochs of every training method but retrain (default: each method's own)")
    p.add_argument("--methods", nargs="*", default=None, help="a subset (retrain is always run first)")
    p.add_argument("--train-size", type=int, default=50_000, help="synthetic CIFAR-10 train images")
    p.add_argument("--test-size", type=int, default=10_000, help="synthetic CIFAR-10 test images")
    p.add_argument("--device", default=None, help="cpu, cuda, … (default: cuda if available)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--amp", action=argparse.BooleanOptionalAction, default=None)
    p.add_argument("--channels-last", action=argparse.BooleanOptionalAction, default=None)
    p.add_argument("--compile", action=argparse.BooleanOptionalAction, default=None)
    p.add_argument("--evaluate", action=argparse.BooleanOptionalAction, default=True,
                   help="evaluate every run against retrain (default on)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a markdown table")
    return p


def main(argv: Sequence[str] | None = None) -> MethodsBench:
    args = _parser().parse_args(argv)
    bench = run_bench(args)
    if args.json:
        print(json.dumps(asdict(bench), indent=2))
    else:
        print(format_table(bench))
    return bench


if __name__ == "__main__":
    main()
