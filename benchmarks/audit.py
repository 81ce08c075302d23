"""The cost of `unlearn audit` on the CPU (issue 20): a `fixed` audit and a `halves` audit on
digits with the cnn, end to end, and where the time goes.

One run prepares digits, pretrains the template M0 and draws its random 10 % forget set (in
this process, not timed), then runs, each as its own `unlearn audit` process (so CLI start-up
is in the wall time, as a user sees it):

    fixed    --method M --forget F --models N         N unlearned + N retrained (+ N − 1 originals)
    halves   --design halves --model M0 --pool P --models K --method M    K shadows

and for each reports the wall seconds end to end, the seconds per model trained, and the
shares of that wall time that are

    start-up     one `python -m unlearn_cli` and one sweep worker's imports (measured apart;
                 the workers start in parallel, so one counts)
    plan         `--plan` of the finished audit (a subprocess), and a cProfile of it in this
                 process split into hashing (sha256), data loading (safetensors, parquet,
                 numpy files, manifests' JSON) and the rest
    training     the steps' own `wall_seconds` (the training loops), over --jobs
    node rest    the node logs' seconds less training, over --jobs: each node's loading of
                 the data and model, validating its parents (hashing), queries and writing
    statistics   the attacks, as the audit prints them

    other        the rest: the sweep's bookkeeping, workers waiting on a dependency, the
                 audit's tables and plots

`--dataset cifar10 --model resnet9 --device cuda --designs fixed --models 64` is the GPU
benchmark (`benchmarks/gpu.sh --stages audit`): a full-size synthetic CIFAR-10 written on the
spot. `--time-limit S` bounds the whole run: an audit still running when its share is spent is
interrupted (a re-run with the same --workdir continues it) and reported from its node logs,
`complete: false`, with the wall time projected from the seconds of the nodes that finished.

Nothing here is a timed test; the figures go to BENCHMARKS.md ("Audits (CPU)").

Examples (from the repository root):
    python -m benchmarks.audit                                   # the issue's CPU sizes
    python -m benchmarks.audit --designs fixed --models 6 --width 0.25 --epochs 1 --json   # a smoke
    python -m benchmarks.audit --dataset cifar10 --model resnet9 --device cuda --designs fixed --models 64
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import pstats
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.synthetic_cifar import write_synthetic_cifar10
from unlearn_cli.artifacts import Workspace
from unlearn_cli.steps.forget_set import make_forget_set
from unlearn_cli.steps.options import ForgetSetOptions, PrepareOptions, PretrainOptions
from unlearn_cli.steps.prepare_data import prepare_dataset
from unlearn_cli.steps.pretrain import pretrain

FORGET = "bench-random10"
PLAN_RESERVE = 90.0  # seconds of --time-limit kept for the two --plan runs after an audit
TRAINING_STEPS = ("pretrain", "unlearn")  # the nodes that train a model (forget and query do not)
# Which profiled functions count as hashing and as data loading (by file or function name).
HASHING = ("hashlib", "sha256", "hashcache")
LOADING = ("safetensors", "pyarrow", "parquet", "numpy/lib/_npyio", "numpy/lib/format", "json/decoder",
           "load_table", "load_file", "_train_labels")
_NODE_OPENED = re.compile(r"^== (?P<node>\S+): (?P<step>\w+) on ")
_NODE_DONE = re.compile(r"^== (?P<node>\S+): (?P<status>\w+) in (?P<seconds>[0-9.]+) s$")
_STATISTICS = re.compile(r"statistics in (?P<seconds>[0-9.]+) s")


@dataclass
class PlanProfile:
    seconds: float  # the profiled `--plan` process (cProfile's overhead included)
    import_seconds: float
    hashing_seconds: float
    loading_seconds: float
    top: list[str] = field(default_factory=list)  # the costliest functions, cumulative


@dataclass
class AuditTiming:
    design: str
    command: list[str]
    wall_seconds: float
    nodes_run: int
    models_trained: int
    seconds_per_model: float
    node_seconds: dict[str, float]  # Σ over the node logs, per step
    training_seconds: float  # Σ of the trained models' own wall_seconds
    statistics_seconds: float | None
    plan_seconds: float  # `--plan` of the finished audit, a subprocess
    plan_profile: PlanProfile
    shares: dict[str, float]  # of wall_seconds
    complete: bool = True  # False: interrupted at --time-limit, figures from the nodes that finished
    nodes_planned: int = 0
    projected_wall_seconds: float | None = None  # complete: the wall time; else projected


@dataclass
class AuditBench:
    config: dict[str, Any]
    setup: dict[str, float]
    startup: dict[str, float]
    audits: list[AuditTiming]


def _cli(workdir: Path, *args: str, limit: float | None = None) -> tuple[float, str | None]:
    """Run `unlearn ARGS` on the benchmark's workspace: (seconds, its stderr), or stderr None
    when it was still running after `limit` seconds and was interrupted (SIGINT, as Ctrl-C:
    the audit stops its workers and a re-run continues)."""
    started = time.perf_counter()
    process = subprocess.Popen([sys.executable, "-m", "unlearn_cli", *args, "--workspace", str(workdir / "ws")],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=workdir)
    try:
        _, stderr = process.communicate(timeout=limit)
    except subprocess.TimeoutExpired:
        process.send_signal(signal.SIGINT)
        try:
            process.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()
        return time.perf_counter() - started, None
    seconds = time.perf_counter() - started
    if process.returncode != 0:
        raise SystemExit(f"`unlearn {' '.join(args)}` failed (exit {process.returncode}):\n{stderr[-3000:]}")
    return seconds, stderr


def _startup() -> dict[str, float]:
    """A process's start-up, best of three: the CLI (`--help` imports what every command
    imports) and a sweep worker (the steps and torch, imported once per worker)."""
    def best(argv: list[str]) -> float:
        times = []
        for _ in range(3):
            started = time.perf_counter()
            subprocess.run(argv, capture_output=True, check=True)
            times.append(time.perf_counter() - started)
        return min(times)

    worker = "import torch, unlearn_cli.sweep.node, unlearn_cli.steps.registry, unlearn_cli.steps.pretrain, " \
             "unlearn_cli.steps.unlearn, unlearn_cli.steps.query"
    return {"cli_seconds": best([sys.executable, "-m", "unlearn_cli", "--help"]),
            "worker_seconds": best([sys.executable, "-c", worker])}


def _node_logs(ws: Workspace, name: str, counts: dict[str, int] | None = None) -> dict[str, float]:
    """Σ seconds per step of the nodes that ran, from sweeps/audit-<name>/logs/<kind>/<name>.log
    (each opens `== <id>: <step> on <host> …` and ends `== <id>: ran in S s`); `counts`, when
    given, gets the number of them per step."""
    totals: dict[str, float] = {}
    counts = {} if counts is None else counts
    for log in sorted((ws.root / "sweeps" / f"audit-{name}" / "logs").rglob("*.log")):
        lines = log.read_text(errors="replace").splitlines()
        opening = _NODE_OPENED.match(lines[0].strip()) if lines else None
        for line in lines:
            match = _NODE_DONE.match(line.strip())
            if opening and match and match["status"] == "ran":
                totals[opening["step"]] = totals.get(opening["step"], 0.0) + float(match["seconds"])
                counts[opening["step"]] = counts.get(opening["step"], 0) + 1
    return totals


def _training_seconds(ws: Workspace, nodes: Sequence[Any]) -> float:
    total = 0.0
    for node in nodes:
        if node.step in TRAINING_STEPS:
            total += float(ws.read(node.kind, node.name, verify=False).summary.get("wall_seconds", 0.0))
    return total


def _profile_plan(workdir: Path, command: list[str]) -> PlanProfile:
    """`python -m cProfile` of `unlearn audit … --plan` in a fresh process (as a user runs it:
    nothing remembered in memory, the workspace's hash cache as the audit left it), split by
    what the time was spent in. Hashing and loading sum functions' own time (tottime), so
    nested helpers count once; imports are the outermost import calls' cumulative time."""
    stats_file = workdir / "plan.pstats"
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "cProfile", "-o", str(stats_file), "-m", "unlearn_cli", *command,
                    "--plan", "--workspace", str(workdir / "ws")], capture_output=True, check=True, cwd=workdir)
    seconds = time.perf_counter() - started
    stats = pstats.Stats(str(stats_file))
    hashing = loading = imports = 0.0
    for (filename, _, function), (_, _, own, cumulative, _) in stats.stats.items():  # type: ignore[attr-defined]
        where = f"{filename}:{function}"
        if function == "_find_and_load":
            imports = max(imports, cumulative)
        elif any(key in where for key in HASHING):
            hashing += own
        elif any(key in where for key in LOADING):
            loading += own
    ranked = sorted(stats.stats.items(), key=lambda item: item[1][3], reverse=True)  # type: ignore[attr-defined]
    # Our own functions below the CLI's wrappers, by cumulative time: where planning goes.
    ours = [(f, line, fn, cum) for (f, line, fn), (_, _, _, cum, _) in ranked
            if "unlearn_cli" in f and "/cli/" not in f and fn != "<module>"]
    top = [f"{Path(f).parent.name}/{Path(f).name}:{line}({fn}) {cum:.2f} s" for f, line, fn, cum in ours[:10]]
    return PlanProfile(seconds, imports, hashing, loading, top)


def _audit(ws: Workspace, workdir: Path, design: str, args: argparse.Namespace, startup: dict[str, float],
           deadline: float | None) -> AuditTiming:
    from unlearn_cli.audit.design import AuditSettings
    from unlearn_cli.audit.run import AuditOptions, plan_audit
    from unlearn_cli.sweep.status import DONE
    from unlearn_cli.train.options import GenericOptions

    name = f"bench-{design}"
    fast = ["--device", args.device, "--jobs", str(args.jobs), "--resamples", str(args.resamples), "--name", name,
            *(["--threads", "1"] if args.device == "cpu" else [])]
    if design == "fixed":
        shape = ["--forget", FORGET, "--models", str(args.models)]
        settings = AuditSettings(method=args.method, forget=FORGET, models=args.models, generic=GenericOptions())
    else:
        shape = ["--design", "halves", "--model", args.template, "--pool", str(args.pool), "--models",
                 str(args.models)]
        settings = AuditSettings(method=args.method, forget=None, design="halves", model=args.template,
                                 pool=args.pool, models=args.models, generic=GenericOptions())
    _, audit, before = plan_audit(ws, AuditOptions(settings=settings, name=name, device=args.device))
    todo = [node for node in audit.plan.nodes.values() if before.status[node.id] != DONE]
    command = ["audit", "--method", args.method, *shape, *fast]
    print(f"audit {design}: {len(todo)} nodes to run …", file=sys.stderr, flush=True)
    # Keep PLAN_RESERVE seconds of the limit for the --plan timings after it.
    limit = None if deadline is None else max(1.0, deadline - time.perf_counter() - PLAN_RESERVE)
    wall, stderr = _cli(workdir, *command, limit=limit)
    complete = stderr is not None
    statistics = _STATISTICS.search(stderr) if complete else None
    plan_seconds, _ = _cli(workdir, *command, "--plan")
    profile = _profile_plan(workdir, command)
    counts: dict[str, int] = {}
    node_seconds = _node_logs(ws, name, counts)
    trained = [node for node in todo if node.step in TRAINING_STEPS]
    finished = [node for node in trained if ws.exists(node.kind, node.name)]
    training = _training_seconds(ws, finished)
    jobs = max(1, args.jobs)
    projected = wall
    if not complete:
        # Every step's nodes at the mean seconds of those that finished, run `jobs` at a time.
        planned = {step: sum(1 for node in todo if node.step == step) for step in {n.step for n in todo}}
        means = {step: node_seconds[step] / counts[step] for step in counts}
        if set(planned) <= set(means):
            projected = startup["cli_seconds"] + startup["worker_seconds"] + sum(
                planned[step] * means[step] for step in planned) / jobs
        else:
            projected = None  # a step none of whose nodes finished: nothing to project from
    rest = max(0.0, sum(node_seconds.values()) - training)
    shares = {
        "startup": (startup["cli_seconds"] + startup["worker_seconds"]) / wall,
        "plan": plan_seconds / wall,
        "plan_imports": profile.import_seconds / wall,
        "plan_hashing": profile.hashing_seconds / wall,
        "plan_loading": profile.loading_seconds / wall,
        "training": training / jobs / wall,
        "node_rest": rest / jobs / wall,
        "statistics": (float(statistics["seconds"]) if statistics else 0.0) / wall,
    }
    # What none of the above covers: the sweep's own bookkeeping, workers idle behind a
    # dependency, writing the audit's tables and plots (plan_* are parts of `plan`).
    shares["other"] = 1.0 - sum(value for key, value in shares.items() if not key.startswith("plan_"))
    timing = AuditTiming(design, ["unlearn", *command], wall, sum(counts.values()), len(finished),
                         wall / max(1, len(finished)), node_seconds, training,
                         float(statistics["seconds"]) if statistics else None, plan_seconds, profile, shares,
                         complete, len(todo), projected)
    state = "" if complete else f" (interrupted: {timing.nodes_run} of {len(todo)} nodes, projected {projected} s)"
    print(f"audit {design}: {wall:.1f} s, {len(finished)} models ({timing.seconds_per_model:.2f} s each), "
          f"--plan {plan_seconds:.1f} s{state}", file=sys.stderr, flush=True)
    return timing


def run_bench(args: argparse.Namespace) -> AuditBench:
    if args.models < 10 and "halves" in args.designs:
        raise SystemExit("--models must be at least 10 for the halves design (K/2 − 1 ≥ 4 shadows a side)")
    if args.models % 2 and "halves" in args.designs:
        raise SystemExit("--models must be even for the halves design")
    began = time.perf_counter()
    deadline = None if args.time_limit is None else began + args.time_limit
    keep = args.workdir is not None
    workdir = Path(args.workdir) if keep else Path(tempfile.mkdtemp(prefix="unlearn-audit-bench-"))
    try:
        workdir.mkdir(parents=True, exist_ok=True)
        ws = Workspace.at(workdir / "ws")
        started = time.perf_counter()
        if not ws.exists("dataset", args.dataset):
            if args.dataset == "digits":
                prepare_dataset(ws, PrepareOptions(dataset="digits"))
            else:
                source = write_synthetic_cifar10(workdir / "source", args.train_size, args.test_size)
                prepare_dataset(ws, PrepareOptions(dataset="cifar10", source=source))
        prepare = time.perf_counter() - started
        started = time.perf_counter()
        if ws.names("model"):
            args.template = _template_name(ws)
        else:
            template = PretrainOptions(dataset=args.dataset, model=args.model, width=args.width, epochs=args.epochs,
                                       device=args.device)
            args.template = Path(pretrain(ws, template)).stem
        template_s = time.perf_counter() - started
        if not ws.exists("forget-set", FORGET):
            make_forget_set(ws, ForgetSetOptions(model=args.template, kind="per", params={"per": 10}, name=FORGET,
                                                 device=args.device))
        startup = _startup()
        audits = [_audit(ws, workdir, design, args, startup, deadline) for design in args.designs]
        import torch

        config = {"dataset": args.dataset, "model": args.model, "width": args.width, "epochs": args.epochs,
                  "device": args.device, "method": args.method, "models": args.models, "pool": args.pool,
                  "jobs": args.jobs, "resamples": args.resamples, "template": args.template,
                  "train_size": ws.read("dataset", args.dataset).summary["train_size"],
                  "torch": torch.__version__, "python": platform.python_version(), "cpu_count": os.cpu_count(),
                  "gpu": torch.cuda.get_device_name() if args.device.startswith("cuda") else None,
                  "load_average": os.getloadavg()[0], "workdir": str(workdir) if keep else None,
                  "time_limit": args.time_limit}
        return AuditBench(config, {"prepare_seconds": prepare, "template_seconds": template_s}, startup, audits)
    finally:
        if not keep:
            shutil.rmtree(workdir, ignore_errors=True)


def _template_name(ws: Workspace) -> str:
    """A kept --workdir: the template is the one model pretrained on the whole train set."""
    whole = [name for name in ws.names("model") if "exclude" not in ws.read("model", name, verify=False).files
             and name.endswith("-s0")]
    return sorted(whole, key=len)[0]


def format_table(bench: AuditBench) -> str:
    c = bench.config
    lines = [f"{c['dataset']} ({c['train_size']} train rows), {c['model']} width {c['width']} on {c['device']}, "
             f"method {c['method']}, --jobs {c['jobs']}, "
             f"{c['cpu_count']} CPUs (load {c['load_average']:.1f}); start-up: CLI {bench.startup['cli_seconds']:.2f} s, "
             f"worker {bench.startup['worker_seconds']:.2f} s",
             "| design | models | wall s | s / model | --plan s | start-up | --plan (imports, hash, load) | training | "
             "node rest | statistics | other |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for t in bench.audits:
        s = t.shares
        lines.append(f"| {t.design} | {t.models_trained} | {t.wall_seconds:.1f} | {t.seconds_per_model:.2f} | "
                     f"{t.plan_seconds:.1f} | {s['startup']:.0%} | {s['plan']:.0%} ({s['plan_imports']:.0%}, {s['plan_hashing']:.0%}, "
                     f"{s['plan_loading']:.0%}) | {s['training']:.0%} | {s['node_rest']:.0%} | {s['statistics']:.0%} | "
                     f"{s['other']:.0%} |")
    for t in bench.audits:
        if not t.complete:
            lines.append(f"\n{t.design}: interrupted at --time-limit after {t.nodes_run} of {t.nodes_planned} nodes; "
                         f"projected wall time {t.projected_wall_seconds} s")
    for t in bench.audits:
        lines.append(f"\n{t.design} --plan profile ({t.plan_profile.seconds:.2f} s), cumulative:")
        lines.extend(f"    {entry}" for entry in t.plan_profile.top)
    return "\n".join(lines)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m benchmarks.audit", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", type=int, default=32, help="N of the fixed design and K of halves (default %(default)s)")
    p.add_argument("--pool", type=int, default=300, help="the halves design's audited rows (default %(default)s)")
    p.add_argument("--dataset", choices=("digits", "cifar10"), default="digits",
                   help="digits, or a synthetic CIFAR-10 of --train-size/--test-size images (default %(default)s)")
    p.add_argument("--model", default="cnn", help="the template's architecture (default %(default)s)")
    p.add_argument("--width", type=float, default=1.0, help="its width multiplier (default %(default)s)")
    p.add_argument("--train-size", type=int, default=50_000, help="synthetic CIFAR-10 train images")
    p.add_argument("--test-size", type=int, default=10_000, help="synthetic CIFAR-10 test images")
    p.add_argument("--device", default="cpu", help="cpu, cuda, … (default %(default)s)")
    p.add_argument("--time-limit", type=float, default=None,
                   help="seconds for the whole run; an audit still running then is interrupted and projected")
    p.add_argument("--epochs", type=int, default=None, help="pretraining epochs (default: the recipe's, 10)")
    p.add_argument("--method", default="finetune", help="the audited method (default %(default)s)")
    p.add_argument("--designs", nargs="+", choices=("fixed", "halves"), default=["fixed", "halves"])
    p.add_argument("--jobs", type=int, default=2, help="models trained at once (default %(default)s)")
    p.add_argument("--resamples", type=int, default=1000, help="bootstrap resamples (default %(default)s)")
    p.add_argument("--workdir", default=None,
                   help="keep the workspace here (a re-run reuses its models); default: a temporary folder")
    p.add_argument("--json", action="store_true", help="print JSON instead of a markdown table")
    return p


def main(argv: Sequence[str] | None = None) -> AuditBench:
    args = _parser().parse_args(argv)
    bench = run_bench(args)
    print(json.dumps(asdict(bench), indent=2) if args.json else format_table(bench))
    return bench


if __name__ == "__main__":
    main()
