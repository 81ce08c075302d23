"""Pretraining throughput (images/s): our on-device pipeline against the seed repositories' way.

Both sides train the same architecture from the same initialisation with the same batch size,
SGD settings and augmentation (random crop with 4 px padding, horizontal flip), in one process,
one after the other:

- ours: `prepare-data` into a temporary workspace, the split moved to the device once,
  `BatchLoader` (whole-batch augmentation on the device) and the one training loop
  `unlearn_cli.train.loop.train` with the CE objective, with the speed switches the device
  gets by default (bf16, channels_last and torch.compile on CUDA; bf16 and channels_last on
  CPUs with native bf16; none on other CPUs);
- reference: torchvision's `CIFAR10` with a PIL transform pipeline, a `DataLoader` with worker
  processes (and pinned memory on CUDA), fp32, and the plain
  `for x, y in loader: x, y = x.to(dev), y.to(dev); loss = CE(model(x), y); ...` loop that
  both seed repositories use.

Warm-up steps (including compilation) are left out; the clock is read after synchronising the
device. Data is a synthetic CIFAR-10 in the official pickle layout (no internet needed).

    python -m benchmarks.pretrain_throughput --device cpu --threads 1
    python benchmarks/pretrain_throughput.py --json        (the same, run as a file)
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from torch import nn

if __package__ in (None, ""):
    # Run as a file (`python benchmarks/pretrain_throughput.py`): make the repository root
    # importable so `benchmarks` resolves as with `python -m benchmarks.pretrain_throughput`.
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import run_cli
from benchmarks.synthetic_cifar import FOLDER, write_synthetic_cifar10
from unlearn_cli.artifacts import Workspace
from unlearn_cli.data.augment import AugmentSpec
from unlearn_cli.data.loader import BatchLoader, DeviceSplit
from unlearn_cli.data.prepared import DatasetInfo, load_split
from unlearn_cli.errors import InputError
from unlearn_cli.models import MODELS, build_model
from unlearn_cli.steps.options import PrepareOptions
from unlearn_cli.steps.prepare_data import prepare_dataset
from unlearn_cli.train.device import SpeedSwitches, resolve_device
from unlearn_cli.train.loop import LoopConfig, StepOutput, train
from unlearn_cli.train.objectives import cross_entropy
from unlearn_cli.train.optim import OptimizerSpec, build_optimizer
from unlearn_cli.train.schedules import ScheduleSpec, build_schedule

# Same optimiser on both sides. A moderate lr keeps random-label training finite for the few
# hundred steps a benchmark runs (our loop stops on a NaN loss; the reference would not notice).
OPTIMIZER = OptimizerSpec("sgd", lr=0.05, weight_decay=5e-4, momentum=0.9)
CROP_PADDING = 4  # 32 px images: pad 4, as torchvision's RandomCrop(32, padding=4)


@dataclass(frozen=True)
class BenchConfig:
    model: str = "resnet18"
    width: float | None = None  # None: 1.0 on CUDA, 0.25 on CPU (so a CPU run finishes)
    batch_size: int = 128
    steps: int = 30
    warmup: int = 5
    device: str | None = None
    train_size: int = 10_000
    num_workers: int | None = None  # reference DataLoader workers; None: os.cpu_count()
    threads: int | None = None  # torch intra-op threads of the training process; None: torch's default
    seed: int = 0
    amp: bool | None = None  # our speed switches; None: the device's default
    channels_last: bool | None = None
    compile: bool | None = None

    def validate(self) -> None:
        """Every bad value at once, before any data is written."""
        problems = []
        for name, value, least in (("--batch-size", self.batch_size, 1), ("--steps", self.steps, 1),
                                   ("--warmup", self.warmup, 0), ("--train-size", self.train_size, 5)):
            if value < least:
                problems.append(f"{name} must be at least {least} (got {value})")
        if self.num_workers is not None and self.num_workers < 0:
            problems.append(f"--num-workers must be at least 0 (got {self.num_workers})")
        if self.threads is not None and self.threads < 1:
            problems.append(f"--threads must be at least 1 (got {self.threads})")
        if self.width is not None and not (math.isfinite(self.width) and self.width > 0):
            problems.append(f"--width must be positive (got {self.width})")
        if self.train_size < self.batch_size:
            # Our loader drops the last partial batch (DDP-even batches), so it needs one full batch.
            problems.append(f"--train-size {self.train_size} is smaller than --batch-size {self.batch_size}")
        if self.model not in MODELS:
            problems.append(f"unknown --model '{self.model}' (valid: {', '.join(MODELS.names())})")
        if problems:
            raise InputError("; ".join(problems), hint="see python -m benchmarks.pretrain_throughput --help")


@dataclass(frozen=True)
class Throughput:
    """One pipeline's timed steps (after warm-up)."""

    pipeline: str
    steps: int
    images: int
    seconds: float
    setup_seconds: float  # data preparation / loading, outside the timed steps
    detail: dict[str, object] = field(default_factory=dict)

    @property
    def images_per_second(self) -> float:
        return self.images / self.seconds

    @property
    def ms_per_step(self) -> float:
        return 1000.0 * self.seconds / self.steps

    def to_json(self) -> dict[str, object]:
        return {**asdict(self), "images_per_second": self.images_per_second, "ms_per_step": self.ms_per_step}


@dataclass(frozen=True)
class BenchResult:
    config: dict[str, object]
    machine: dict[str, object]
    ours: Throughput
    reference: Throughput

    @property
    def ratio(self) -> float:
        """ours / reference in images per second: above 1 means ours is faster."""
        return self.ours.images_per_second / self.reference.images_per_second

    def to_json(self) -> dict[str, object]:
        return {"config": self.config, "machine": self.machine, "ours": self.ours.to_json(),
                "reference": self.reference.to_json(), "ratio_ours_over_reference": self.ratio}


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _fresh_model(config: BenchConfig, width: float, device: torch.device) -> nn.Module:
    # The same seed before each build: both pipelines start from identical weights.
    torch.manual_seed(config.seed)
    return build_model(config.model, channels=3, image_size=32, num_classes=10, width=width).to(device)


class _Stopwatch:
    """A loop callback that starts the clock once the warm-up steps are done. It syncs the
    device once, at that boundary, so the timed steps start with an empty queue."""

    def __init__(self, warmup: int, device: torch.device) -> None:
        self.warmup, self.device = warmup, device
        self.steps_done = 0
        self.started: float | None = None if warmup else time.perf_counter()

    def on_step(self, output: StepOutput) -> None:
        self.steps_done += 1
        if self.steps_done == self.warmup:
            _sync(self.device)
            self.started = time.perf_counter()

    def state(self) -> dict[str, torch.Tensor]:
        return {}

    def load_state(self, state: dict[str, torch.Tensor]) -> None:
        pass


def measure_ours(config: BenchConfig, source: Path, workdir: Path, width: float,
                 device: torch.device) -> Throughput:
    """prepare-data, the split on the device once, BatchLoader + the training loop."""
    model = _fresh_model(config, width, device)
    switches = SpeedSwitches.for_device(device, amp=config.amp, channels_last=config.channels_last,
                                        compile=config.compile).for_model(model, device)
    setup_start = time.perf_counter()
    ws = Workspace.at(workdir / "workspace")
    manifest_path = prepare_dataset(ws, PrepareOptions(dataset="cifar10", source=source))
    dataset = ws.read("dataset", manifest_path)
    info = DatasetInfo.from_manifest(dataset)
    split = load_split(ws, dataset, "train")
    train_split = DeviceSplit.from_numpy(split.images, split.labels, device)
    loader = BatchLoader(
        train_split, batch_size=config.batch_size, mean=info.mean, std=info.std,
        augment=AugmentSpec(crop_padding=CROP_PADDING, flip=True), shuffle=True, drop_last=True,
        seed=config.seed, channels_last=switches.channels_last,
    )
    _sync(device)
    setup_seconds = time.perf_counter() - setup_start

    total = config.warmup + config.steps
    stopwatch = _Stopwatch(config.warmup, device)
    train(
        model, loader, cross_entropy, build_optimizer(OPTIMIZER, model.parameters()),
        build_schedule(ScheduleSpec("constant"), total),
        # The NaN check cadence pretrain uses: every step on CPU, every 25 on CUDA (a sync each).
        LoopConfig(total_steps=total, device=device, amp=switches.amp, channels_last=switches.channels_last,
                   compile=switches.compile, description="benchmark: ours",
                   nan_check_every=1 if device.type == "cpu" else 25),
        callbacks=[stopwatch],
    )
    _sync(device)  # the loop synchronises at its end already; this keeps the clock honest if that changes
    ended = time.perf_counter()
    assert stopwatch.started is not None  # set at step `warmup` of warmup + steps ≥ 1
    return Throughput("ours", config.steps, config.steps * config.batch_size, ended - stopwatch.started,
                      setup_seconds, detail={**asdict(switches), "batches_per_epoch": len(loader)})


def _torchvision_cifar10():
    """torchvision's CIFAR10 with the md5 checks turned into existence checks: the synthetic
    files have the official layout but not the official bytes."""
    from torchvision.datasets import CIFAR10

    class UncheckedCIFAR10(CIFAR10):
        # check_integrity(path, md5=None) only checks that the file exists.
        train_list = [[name, None] for name, _ in CIFAR10.train_list]
        test_list = [[name, None] for name, _ in CIFAR10.test_list]
        meta = {**CIFAR10.meta, "md5": None}

    return UncheckedCIFAR10


def measure_reference(config: BenchConfig, root: Path, width: float, device: torch.device,
                      mean: Sequence[float], std: Sequence[float]) -> Throughput:
    """The seed repositories' pipeline: PIL transforms in DataLoader workers, fp32, a plain loop."""
    from torch.utils.data import DataLoader
    from torchvision import transforms

    num_workers = (os.cpu_count() or 1) if config.num_workers is None else config.num_workers
    setup_start = time.perf_counter()
    transform = transforms.Compose([
        transforms.RandomCrop(32, padding=CROP_PADDING),
        transforms.RandomHorizontalFlip(),
        transforms.ToTensor(),
        transforms.Normalize(mean, std),
    ])
    dataset = _torchvision_cifar10()(str(root), train=True, download=False, transform=transform)
    loader = DataLoader(dataset, batch_size=config.batch_size, shuffle=True, num_workers=num_workers,
                        pin_memory=device.type == "cuda")
    setup_seconds = time.perf_counter() - setup_start

    model = _fresh_model(config, width, device)
    model.train()
    criterion = nn.CrossEntropyLoss()
    optimizer = torch.optim.SGD(model.parameters(), lr=OPTIMIZER.lr, momentum=OPTIMIZER.momentum,
                                weight_decay=OPTIMIZER.weight_decay)
    total = config.warmup + config.steps
    step, images, started = 0, 0, time.perf_counter() if config.warmup == 0 else None
    # Epochs as the seed repositories run them: a fresh loader iterator (new workers) each time.
    while step < total:
        for x, y in loader:
            x, y = x.to(device), y.to(device)
            optimizer.zero_grad()
            loss = criterion(model(x), y)
            loss.backward()
            optimizer.step()
            step += 1
            if step > config.warmup:
                images += int(y.shape[0])  # the last batch of an epoch may be partial
            if step == config.warmup:
                _sync(device)
                started = time.perf_counter()
            if step == total:
                break
    _sync(device)
    ended = time.perf_counter()
    assert started is not None
    return Throughput("reference", config.steps, images, ended - started, setup_seconds,
                      detail={"num_workers": num_workers, "pin_memory": device.type == "cuda",
                              "amp": False, "channels_last": False, "compile": False,
                              "batches_per_epoch": len(loader)})


def run_benchmark(config: BenchConfig) -> BenchResult:
    """Write the synthetic data, measure both pipelines, return the figures."""
    config.validate()
    device = resolve_device(config.device)
    width = config.width if config.width is not None else (1.0 if device.type == "cuda" else 0.25)
    previous_threads = torch.get_num_threads()
    if config.threads is not None:
        # On a small shared CPU, OpenMP threads that outnumber free cores spin against each
        # other and make step times swing by 10x; one thread gives stable figures.
        torch.set_num_threads(config.threads)
    try:
        machine = {
            "device": str(device),
            "device_name": (torch.cuda.get_device_name(device) if device.type == "cuda"
                            else platform.processor() or platform.machine()),
            "cpu_count": os.cpu_count(),
            "torch_threads": torch.get_num_threads(),
            "torch": torch.__version__,
            "torchvision": _torchvision_version(),
            "python": platform.python_version(),
        }
        with tempfile.TemporaryDirectory(prefix="unlearn-bench-") as tmp:
            root = Path(tmp) / "source"
            test_size = max(10, min(1000, config.train_size // 10))
            write_synthetic_cifar10(root, config.train_size, test_size, seed=config.seed)
            ours = measure_ours(config, root / FOLDER, Path(tmp), width, device)
            # The reference normalises with the statistics prepare-data computed for ours.
            info = DatasetInfo.from_manifest(Workspace.at(Path(tmp) / "workspace").read("dataset", "cifar10"))
            reference = measure_reference(config, root, width, device, info.mean, info.std)
    finally:
        torch.set_num_threads(previous_threads)  # main() may run inside a longer-lived process
    return BenchResult(config={**asdict(config), "width": width}, machine=machine, ours=ours, reference=reference)


def _torchvision_version() -> str:
    import torchvision

    return torchvision.__version__


def format_table(result: BenchResult) -> str:
    c = result.config
    rows = [("pipeline", "images/s", "ms/step", "setup s", "notes")]
    for t in (result.ours, result.reference):
        d = t.detail
        if t.pipeline == "ours":
            notes = ", ".join(f"{k} {'on' if d[k] else 'off'}" for k in ("amp", "channels_last", "compile"))
        else:
            notes = f"{d['num_workers']} workers, pin_memory {'on' if d['pin_memory'] else 'off'}, fp32"
        rows.append((t.pipeline, f"{t.images_per_second:.1f}", f"{t.ms_per_step:.1f}",
                     f"{t.setup_seconds:.2f}", notes))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = [f"{c['model']} width {c['width']}, batch {c['batch_size']}, {c['steps']} timed steps after "
             f"{c['warmup']} warm-up, {c['train_size']} images, on {result.machine['device']}"]
    for i, row in enumerate(rows):
        lines.append("  ".join(cell.ljust(w) if j in (0, 4) else cell.rjust(w)
                               for j, (cell, w) in enumerate(zip(row, widths))).rstrip())
        if i == 0:
            lines.append("  ".join("-" * w for w in widths))
    lines.append(f"ratio ours/reference: {result.ratio:.2f}x")
    return "\n".join(lines)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m benchmarks.pretrain_throughput", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    d = BenchConfig()
    p.add_argument("--model", default=d.model, help="architecture from the model registry (default %(default)s)")
    p.add_argument("--width", type=float, default=None, help="channel-width multiplier (default 1.0 on CUDA, 0.25 on CPU)")
    p.add_argument("--batch-size", type=int, default=d.batch_size, help="default %(default)s")
    p.add_argument("--steps", type=int, default=d.steps, help="timed steps per pipeline (default %(default)s)")
    p.add_argument("--warmup", type=int, default=d.warmup, help="untimed steps first, incl. compilation (default %(default)s)")
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:1 (default: cuda if available)")
    p.add_argument("--train-size", type=int, default=d.train_size, help="synthetic training images (default %(default)s)")
    p.add_argument("--num-workers", type=int, default=None, help="reference DataLoader workers (default: CPU count)")
    p.add_argument("--threads", type=int, default=None, help="torch threads of the training process (default: torch's)")
    p.add_argument("--seed", type=int, default=d.seed, help="default %(default)s")
    p.add_argument("--amp", action=argparse.BooleanOptionalAction, default=None, help="ours: bf16 autocast (default: on with CUDA or a CPU with native bf16)")
    p.add_argument("--channels-last", action=argparse.BooleanOptionalAction, default=None, help="ours: channels_last (default: as --amp)")
    p.add_argument("--compile", action=argparse.BooleanOptionalAction, default=None, help="ours: torch.compile (default: on with CUDA)")
    p.add_argument("--json", action="store_true", help="print the figures as JSON instead of a table")
    return p


def main(argv: Sequence[str] | None = None) -> BenchResult:
    """Parse `argv`, run the benchmark, print the table (or JSON) on stdout, return the figures."""
    args = _parser().parse_args(argv)
    config = BenchConfig(
        model=args.model, width=args.width, batch_size=args.batch_size, steps=args.steps, warmup=args.warmup,
        device=args.device, train_size=args.train_size, num_workers=args.num_workers, threads=args.threads,
        seed=args.seed,
        amp=args.amp, channels_last=args.channels_last, compile=args.compile,
    )
    result = run_benchmark(config)
    print(json.dumps(result.to_json(), indent=2) if args.json else format_table(result))
    return result


def cli() -> int:
    return run_cli(main)


if __name__ == "__main__":
    sys.exit(cli())
