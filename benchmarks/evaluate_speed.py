"""Wall time of `unlearn evaluate` on a full-size (synthetic) CIFAR-10 with ResNet-18.

Sets up, outside the clock: a synthetic CIFAR-10 in the official layout (50 000 train and
10 000 test images by default), `prepare-data`, a ResNet-18 model artifact with seeded random
weights (evaluation's cost does not depend on what the weights learned; writing it directly
skips pretrain's own passes), and a random 10 % forget set. Then it times the `evaluate`
step: loading the weights, the forward passes and every applicable metric, as the CLI runs it
(minus Python's start-up). `--repeat` runs it several times; the figure is the fastest.

    python -m benchmarks.evaluate_speed --device cpu
    python -m benchmarks.evaluate_speed --device cpu --no-amp --no-channels-last   (fp32)
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import torch

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import run_cli
from benchmarks.synthetic_cifar import FOLDER, write_synthetic_cifar10
from unlearn_cli.artifacts import Manifest, Workspace, save_tensors
from unlearn_cli.errors import InputError
from unlearn_cli.steps.evaluate import evaluate
from unlearn_cli.steps.forget_set import make_forget_set
from unlearn_cli.steps.options import EvaluateOptions, ForgetSetOptions, PrepareOptions
from unlearn_cli.steps.prepare_data import prepare_dataset
from unlearn_cli.train.device import resolve_device

MODEL_NAME = "bench-model"


@dataclass(frozen=True)
class EvalBenchConfig:
    device: str | None = None
    model: str = "resnet18"
    width: float = 1.0
    train_size: int = 50_000
    test_size: int = 10_000
    repeat: int = 1
    threads: int | None = None
    seed: int = 0
    amp: bool | None = None  # None: the device's default
    channels_last: bool | None = None

    def validate(self) -> None:
        problems = [f"{name} must be at least {least} (got {value})"
                    for name, value, least in (("--train-size", self.train_size, 100), ("--test-size", self.test_size, 10),
                                               ("--repeat", self.repeat, 1))
                    if value < least]
        if self.threads is not None and self.threads < 1:
            problems.append(f"--threads must be at least 1 (got {self.threads})")
        if not self.width > 0:
            problems.append(f"--width must be positive (got {self.width})")
        if problems:
            raise InputError("; ".join(problems), hint="see python -m benchmarks.evaluate_speed --help")


def _model_artifact(ws: Workspace, config: EvalBenchConfig) -> None:
    """A model manifest and weights as pretrain writes them, with seeded random weights."""
    from unlearn_cli.data.prepared import DatasetInfo
    from unlearn_cli.models.architecture import Architecture

    dataset = ws.read("dataset", "cifar10")
    info = DatasetInfo.from_manifest(dataset)
    arch = Architecture(config.model, config.width, info.channels, info.image_size, info.num_classes)
    torch.manual_seed(config.seed)
    model = arch.build()
    path = ws.ckpt_path(MODEL_NAME)
    with ws.replacing("model", MODEL_NAME, [path]):
        save_tensors(path, model.state_dict(), {"architecture": config.model, "dataset": info.name})
        ws.write(Manifest(kind="model", name=MODEL_NAME, parents={"dataset": ws.parent_ref(dataset)},
                          config={"dataset": info.name, "architecture": arch.to_config(), "seed": config.seed},
                          files={"weights": ws.file_ref(path)}, summary={"wall_seconds": 0.0}))


def _switch_options(config: EvalBenchConfig) -> dict[str, bool]:
    # Only what was asked for, so the script also times a version of `evaluate` that predates
    # the switches (the "before" figure in BENCHMARKS.md).
    known = {f.name for f in fields(EvaluateOptions)}
    asked = {"amp": config.amp, "channels_last": config.channels_last}
    unknown = [k for k, v in asked.items() if v is not None and k not in known]
    if unknown:
        raise InputError(f"this version of evaluate has no {', '.join(unknown)} option",
                         hint="leave out --amp/--channels-last")
    return {k: v for k, v in asked.items() if v is not None}


def run_benchmark(config: EvalBenchConfig) -> dict[str, object]:
    config.validate()
    device = resolve_device(config.device)
    switches = _switch_options(config)
    previous_threads = torch.get_num_threads()
    if config.threads is not None:
        torch.set_num_threads(config.threads)
    try:
        with tempfile.TemporaryDirectory(prefix="unlearn-eval-bench-") as tmp:
            setup_start = time.perf_counter()
            source = write_synthetic_cifar10(Path(tmp) / "source", config.train_size, config.test_size, seed=config.seed)
            assert source.name == FOLDER
            ws = Workspace.at(Path(tmp) / "workspace")
            prepare_dataset(ws, PrepareOptions(dataset="cifar10", source=source))
            _model_artifact(ws, config)
            forget = make_forget_set(ws, ForgetSetOptions(model=MODEL_NAME, kind="per", params={"per": 10},
                                                          name="bench-forget"))
            setup_seconds = time.perf_counter() - setup_start
            seconds, manifest = [], None
            for i in range(config.repeat):
                started = time.perf_counter()
                result = evaluate(ws, EvaluateOptions(run=MODEL_NAME, forget=str(forget), name=f"bench-{i}",
                                                      device=config.device, **switches))
                seconds.append(time.perf_counter() - started)
                manifest = ws.read("evaluation", result.manifest_path)
            assert manifest is not None
            return {
                "config": asdict(config),
                "machine": {"device": str(device), "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(),
                            "torch": torch.__version__, "python": platform.python_version(),
                            "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None},
                "speed": manifest.config.get("speed"),  # None before the switches existed
                "images": config.train_size + config.test_size,
                "setup_seconds": setup_seconds,
                "seconds": seconds,
                "best_seconds": min(seconds),
                "images_per_second": (config.train_size + config.test_size) / min(seconds),
                "metrics": manifest.summary,
            }
    finally:
        torch.set_num_threads(previous_threads)


def format_result(result: dict[str, object]) -> str:
    c = result["config"]
    speed = result["speed"]
    switches = ("fp32 (no switches in this version)" if speed is None
                else ", ".join(f"{k} {'on' if v else 'off'}" for k, v in speed.items() if k != "compile"))
    runs = ", ".join(f"{s:.1f}" for s in result["seconds"])
    return (f"evaluate {c['model']} width {c['width']} on {c['train_size']} + {c['test_size']} images, "
            f"{result['machine']['device']}, {result['machine']['torch_threads']} threads, {switches}\n"
            f"wall seconds: best {result['best_seconds']:.2f} (runs: {runs}); "
            f"{result['images_per_second']:.0f} images/s; setup {result['setup_seconds']:.1f} s; "
            f"load average {result['machine']['load_average']}")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m benchmarks.evaluate_speed", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    d = EvalBenchConfig()
    p.add_argument("--device", default=None, help="cpu, cuda (default: cuda if available)")
    p.add_argument("--model", default=d.model, help="default %(default)s")
    p.add_argument("--width", type=float, default=d.width, help="default %(default)s")
    p.add_argument("--train-size", type=int, default=d.train_size, help="default %(default)s")
    p.add_argument("--test-size", type=int, default=d.test_size, help="default %(default)s")
    p.add_argument("--repeat", type=int, default=d.repeat, help="timed evaluations; the best counts (default %(default)s)")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    p.add_argument("--seed", type=int, default=d.seed, help="default %(default)s")
    p.add_argument("--amp", action=argparse.BooleanOptionalAction, default=None, help="bf16 autocast (default: the device's)")
    p.add_argument("--channels-last", action=argparse.BooleanOptionalAction, default=None,
                   help="channels_last (default: the device's)")
    p.add_argument("--json", action="store_true", help="print the figures as JSON")
    return p


def main(argv: Sequence[str] | None = None) -> dict[str, object]:
    args = _parser().parse_args(argv)
    config = EvalBenchConfig(device=args.device, model=args.model, width=args.width, train_size=args.train_size,
                             test_size=args.test_size, repeat=args.repeat, threads=args.threads, seed=args.seed,
                             amp=args.amp, channels_last=args.channels_last)
    result = run_benchmark(config)
    print(json.dumps(result, indent=2) if args.json else format_result(result))
    return result


def cli() -> int:
    return run_cli(main)


if __name__ == "__main__":
    sys.exit(cli())
