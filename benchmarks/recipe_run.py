"""One pretraining recipe run end to end on a full-size synthetic CIFAR-10, as a user runs it.

Writes a synthetic CIFAR-10 in the official layout, `prepare-data`, then `pretrain` with the
recipe (default `natmu`: ResNet-18, SGD 0.1, 100 epochs, batch 128) and the device's default
speed switches, and prints the figures as JSON: wall seconds (the manifest's: training only,
compilation warm-up excluded), images/s over the whole run, steps, test accuracy (chance on
noise images: the run measures time, not learning), and the switches used.

    python -m benchmarks.recipe_run --device cuda
    python -m benchmarks.recipe_run --device cpu --epochs 1 --train-size 500 --width 0.0625
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.synthetic_cifar import write_synthetic_cifar10
from unlearn_cli.artifacts import Workspace
from unlearn_cli.steps.options import PrepareOptions, PretrainOptions
from unlearn_cli.steps.prepare_data import prepare_dataset
from unlearn_cli.steps.pretrain import pretrain


def run(args: argparse.Namespace) -> dict:
    with tempfile.TemporaryDirectory(prefix="unlearn-recipe-") as tmp:
        started = time.perf_counter()
        source = write_synthetic_cifar10(Path(tmp) / "source", args.train_size, args.test_size)
        ws = Workspace.at(Path(tmp) / "ws")
        prepare_dataset(ws, PrepareOptions(dataset="cifar10", source=source))
        setup_seconds = time.perf_counter() - started
        started = time.perf_counter()
        path = pretrain(ws, PretrainOptions(dataset="cifar10", model=args.model, width=args.width, recipe=args.recipe,
                                            epochs=args.epochs, device=args.device, name="recipe-run"))
        command_seconds = time.perf_counter() - started
        model = ws.read("model", path.stem)
    recipe = model.config["recipe"]
    images = model.summary["steps"] * recipe["batch_size"]
    return {
        "recipe": recipe["name"], "model": args.model, "width": args.width, "train_size": args.train_size,
        "epochs": model.summary["epochs"], "steps": model.summary["steps"], "batch_size": recipe["batch_size"],
        "wall_seconds": model.summary["wall_seconds"], "images_per_second": images / model.summary["wall_seconds"],
        "pretrain_call_seconds": command_seconds,  # + model build, warm-up, final accuracy passes, writing
        "setup_seconds": setup_seconds, "test_accuracy": model.summary["test_accuracy"],
        "speed": model.config["speed"], "device": model.config["device"],
    }


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m benchmarks.recipe_run", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--recipe", default="natmu", help="default %(default)s")
    p.add_argument("--model", default="resnet18", help="default %(default)s")
    p.add_argument("--width", type=float, default=1.0, help="default %(default)s")
    p.add_argument("--epochs", type=int, default=None, help="override the recipe's epochs")
    p.add_argument("--train-size", type=int, default=50_000, help="default %(default)s")
    p.add_argument("--test-size", type=int, default=10_000, help="default %(default)s")
    p.add_argument("--device", default=None, help="cpu, cuda (default: cuda if available)")
    return p


def main(argv: Sequence[str] | None = None) -> dict:
    result = run(_parser().parse_args(argv))
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
