"""Speed on a machine that is not idle: each workload alone, then beside a CPU-bound competitor.

Two workloads, each run as a fresh process (so OpenMP's settings are read at start, as a
user's command reads them):
- `demo`: `unlearn demo` on the embedded digits set (pretrain, three methods, evaluation);
- `resnet18`: full-width ResNet-18 training steps on synthetic 32x32 images
  (`python -m benchmarks.cpu_step`'s bare step, batch 128).
Each runs idle and beside a competitor (a process computing on one core), under two settings:
`before` (OpenMP's own default wait policy, as `unlearn` ran before it chose one) and `after`
(what `unlearn` does now: a passive wait policy, threads from the usable cores). The table
gives wall and CPU seconds and their ratio to the same setting's idle run.

    python -m benchmarks.contention
    python -m benchmarks.contention --workloads resnet18 --steps 20 --repeats 2
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from benchmarks import run_cli

WORKLOADS = ("demo", "resnet18")
SETTINGS = {
    # An empty OMP_WAIT_POLICY is not a policy libgomp knows, so it keeps its default (spin for
    # a while at each barrier, then sleep), and `unlearn` leaves a variable that is set alone.
    "before": {"OMP_WAIT_POLICY": ""},
    "after": {},
}
COMPETITOR = "import time\nend = time.time() + 3600\nwhile time.time() < end:\n    sum(range(10000))\n"


@dataclass
class Timing:
    workload: str
    setting: str
    busy: bool
    wall_seconds: float
    cpu_seconds: float


def _command(workload: str, workspace: Path, steps: int) -> list[str]:
    if workload == "demo":
        return [sys.executable, "-m", "unlearn_cli", "demo", "--workspace", str(workspace)]
    # The bare training step of cpu_step, but as `unlearn` would size its threads.
    code = ("from unlearn_cli.train.threads import configure_openmp; configure_openmp()\n"
            "from unlearn_cli.train.threads import apply_threads; apply_threads()\n"
            "from benchmarks.cpu_step import main\n"
            f"main(['--model', 'resnet18', '--steps', '{steps}', '--variants', 'foreach'])\n")
    return [sys.executable, "-c", code]


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def time_one(workload: str, setting: str, busy: bool, steps: int) -> Timing:
    environment = {**os.environ, **SETTINGS[setting]}
    environment.pop("UNLEARN_THREADS", None)
    competitor = subprocess.Popen([sys.executable, "-c", COMPETITOR]) if busy else None
    try:
        if competitor is not None:
            time.sleep(1.0)  # let it reach its loop
        with tempfile.TemporaryDirectory() as tmp:
            cpu_before = _children_cpu()
            started = time.perf_counter()
            subprocess.run(_command(workload, Path(tmp) / "ws", steps), env=environment, check=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            wall = time.perf_counter() - started
            cpu = _children_cpu() - cpu_before
    finally:
        if competitor is not None:
            competitor.kill()
            competitor.wait()
    return Timing(workload, setting, busy, wall, cpu)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--workloads", nargs="+", choices=WORKLOADS, default=list(WORKLOADS))
    p.add_argument("--settings", nargs="+", choices=tuple(SETTINGS), default=list(SETTINGS))
    p.add_argument("--steps", type=int, default=15, help="training steps of the resnet18 workload")
    p.add_argument("--machines", nargs="+", choices=("idle", "busy"), default=["idle", "busy"],
                   help="alone, beside the competitor, or both")
    p.add_argument("--repeats", type=int, default=1,
                   help="runs of each cell, interleaved (every cell once, then again); the table keeps the fastest")
    p.add_argument("--json", type=Path, default=None, help="also write the timings here")
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> list[Timing]:
    args = parse_args(argv)
    best: dict[tuple[str, str, bool], Timing] = {}
    cells = [(workload, setting, machine == "busy") for workload in args.workloads for setting in args.settings
             for machine in args.machines]
    # Repeats interleaved, so a slow drift of the machine touches every cell alike.
    for _ in range(args.repeats):
        for workload, setting, busy in cells:
            timing = time_one(workload, setting, busy, args.steps)
            key = (workload, setting, busy)
            if key not in best or timing.wall_seconds < best[key].wall_seconds:
                best[key] = timing
            print(f"{workload:9s} {setting:7s} {'busy' if busy else 'idle'}: wall {timing.wall_seconds:7.1f} s"
                  f"  cpu {timing.cpu_seconds:7.1f} s", file=sys.stderr, flush=True)
    print("| workload | setting | machine | wall s | cpu s | wall / idle | cpu / idle |")
    print("|---|---|---|---:|---:|---:|---:|")
    for (workload, setting, busy), timing in best.items():
        idle = best.get((workload, setting, False))
        ratio = (lambda a, b: f"{a / b:.2f}") if idle else (lambda a, b: "–")
        print(f"| {workload} | {setting} | {'busy' if busy else 'idle'} | {timing.wall_seconds:.1f} | "
              f"{timing.cpu_seconds:.1f} | {ratio(timing.wall_seconds, idle.wall_seconds) if idle else '–'} | "
              f"{ratio(timing.cpu_seconds, idle.cpu_seconds) if idle else '–'} |")
    if args.json is not None:
        args.json.write_text(json.dumps([asdict(t) for t in best.values()], indent=1))
    return list(best.values())


if __name__ == "__main__":
    sys.exit(run_cli(lambda: main()))
