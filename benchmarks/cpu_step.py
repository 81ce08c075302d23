"""Where a training step's time goes, and what the remaining switches would buy.

A bare step (forward, loss, backward, SGD step) of one architecture on synthetic data, in the
CPU's default speed setting, under several variants one after the other in one process:
`foreach` (torch's default SGD, what the loop uses), `fused` (`SGD(fused=True)`) and
`compile` (`torch.compile`, inductor; its compilation is in the warm-up, reported apart).
`--profile` adds torch.profiler's top operators for the default variant, grouped into
convolution, BatchNorm, element-wise and optimiser shares, which is what bounds any gain.

It answers "can the pipeline get faster on this CPU?" without the data pipeline in the way;
`pretrain_throughput` is the end-to-end comparison with the reference.

Examples (from the repository root):
    python -m benchmarks.cpu_step
    python -m benchmarks.cpu_step --width 0.25 --variants foreach compile --profile
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F

from unlearn_cli.models import build_model
from unlearn_cli.train.device import SpeedSwitches

VARIANTS = ("foreach", "fused", "compile")

# Which operator family each profiled aten op belongs to (the rest is "other").
FAMILIES = {
    "convolution": ("convolution", "conv2d", "mkldnn_convolution"),
    "batchnorm": ("batch_norm",),
    "optimiser": ("Optimizer", "_foreach", "sgd"),  # before element-wise: _foreach_add_ is the optimiser's
    "elementwise": ("threshold", "relu", "clamp", "add", "mul", "copy", "_to_copy"),
}


@dataclass
class VariantTiming:
    variant: str
    warmup_seconds: float
    ms_per_step: float
    images_per_second: float
    speed: dict[str, bool]  # the switches the step ran with (the same for every variant)


def _step_fn(variant: str, model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, switches: SpeedSwitches):
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=5e-4,
                                **({"fused": True} if variant == "fused" else {"foreach": True}))
    runner = torch.compile(model) if variant == "compile" else model
    autocast = switches.autocast(x.device)

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        with autocast:
            loss = F.cross_entropy(runner(x).float(), y)
        loss.backward()
        optimizer.step()

    return step


def _model_and_batch(args: argparse.Namespace, device: torch.device):
    torch.manual_seed(args.seed)
    model = build_model(args.model, channels=3, image_size=32, num_classes=10, width=args.width).to(device)
    switches = SpeedSwitches.for_device(device).for_model(model, device)
    x = torch.randn(args.batch_size, 3, 32, 32, device=device)
    y = torch.randint(0, 10, (args.batch_size,), device=device)
    if switches.channels_last:
        model = model.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    return model, x, y, switches


def time_variant(variant: str, args: argparse.Namespace, device: torch.device) -> VariantTiming:
    model, x, y, switches = _model_and_batch(args, device)
    step = _step_fn(variant, model, x, y, switches)
    started = time.perf_counter()
    for _ in range(args.warmup):
        step()
    warmup = time.perf_counter() - started
    started = time.perf_counter()
    for _ in range(args.steps):
        step()
    per_step = (time.perf_counter() - started) / args.steps
    return VariantTiming(variant, warmup, 1000 * per_step, args.batch_size / per_step, asdict(switches))


def profile_shares(args: argparse.Namespace, device: torch.device) -> dict[str, float]:
    """Each operator family's share of the profiled self CPU time of the default step."""
    from torch.profiler import profile

    model, x, y, switches = _model_and_batch(args, device)
    step = _step_fn("foreach", model, x, y, switches)
    step()
    with profile() as prof:
        for _ in range(max(args.steps, 1)):
            step()
    totals = dict.fromkeys([*FAMILIES, "other"], 0.0)
    for event in prof.key_averages():
        family = next((f for f, keys in FAMILIES.items() if any(k in event.key for k in keys)), "other")
        totals[family] += event.self_cpu_time_total
    whole = sum(totals.values()) or 1.0
    return {family: 100.0 * t / whole for family, t in totals.items()}


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m benchmarks.cpu_step", description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="resnet18", help="architecture (default %(default)s)")
    p.add_argument("--width", type=float, default=1.0, help="channel-width multiplier (default %(default)s)")
    p.add_argument("--batch-size", type=int, default=128, help="default %(default)s")
    p.add_argument("--steps", type=int, default=8, help="timed steps per variant (default %(default)s)")
    p.add_argument("--warmup", type=int, default=3, help="untimed steps first, incl. compilation (default %(default)s)")
    p.add_argument("--variants", nargs="+", choices=VARIANTS, default=list(VARIANTS), help="default: all")
    p.add_argument("--profile", action="store_true", help="add the operator-family shares of the default step")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    return p


def main(argv: Sequence[str] | None = None) -> dict[str, object]:
    args = _parser().parse_args(argv)
    device = torch.device("cpu")
    timings = [time_variant(v, args, device) for v in args.variants]
    result: dict[str, object] = {
        "config": {"model": args.model, "width": args.width, "batch_size": args.batch_size, "steps": args.steps,
                   "threads": torch.get_num_threads(), "torch": torch.__version__,
                   "speed": timings[0].speed},
        "variants": [asdict(t) for t in timings],
    }
    if args.profile:
        result["profile_shares_percent"] = profile_shares(args, device)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        c = result["config"]
        print(f"{c['model']} width {c['width']}, batch {c['batch_size']}, {c['threads']} threads, speed {c['speed']}")
        for t in timings:
            print(f"{t.variant:8s} {t.ms_per_step:8.1f} ms/step {t.images_per_second:8.1f} images/s "
                  f"(warm-up {t.warmup_seconds:.1f} s)")
        for family, share in result.get("profile_shares_percent", {}).items():
            print(f"  {family:12s} {share:5.1f} %")
    return result


if __name__ == "__main__":
    main(sys.argv[1:])
