"""Fidelity harness: NatMU's own unlearning code and ours, from the same original weights, on the
same forget rows, evaluated by the same code (ours).

    python -m benchmarks.fidelity --natmu-repo ~/src/NatMU --workdir fidelity-run
    python -m benchmarks.fidelity --natmu-repo ~/src/NatMU --workdir W --workspace WS \\
        --model cifar100-resnet18-s0 --forget F --data path/to/cifar-100-python

`--natmu-repo` is a local clone of ZhengbaoHe/NatMU; its code runs from there (through
`benchmarks/fidelity_reference.py`, one subprocess per run) and is never copied here. Without
`--workspace` the harness builds its own setting in `--workdir`: a learnable CIFAR-100-format
fixture (`--train-size` 1 400 rows, 100 classes), prepared, a ResNet-18 pretrained with NatMU's
recipe for `--epochs` epochs, the `--per 10` forget set drawn with seed 0, and one retrain run
(the model's own recipe) as the avg_gap reference. With `--workspace`, `--data` must be the
CIFAR-100 folder that workspace's dataset was prepared from.

Per method — natmu, badteacher (blindspot.py), salun, random_label (amnesiac.py) — and seed:
ours runs `unlearn` with the natmu-cifar100 preset; the reference runs NatMU's script with the
arguments of its scripts/cifar100/*.sh. Ours runs in float32 by default (`--ours-switches
default` for the device's speed switches), as NatMU does on a CPU, so precision is not among
the differences. Both unlearned models are evaluated by `unlearn evaluate` against the retrain
run; the table gives FA, RA, TA, mia_entropy and avg_gap, mean ± std over the seeds on each
side, the difference of the means, and the reference's own printed FA/TA/mia as a cross-check of
our evaluation of its model. Results go to `<workdir>/fidelity.json`; finished runs are reused,
so a killed harness continues where it stopped.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from benchmarks import run_cli
from benchmarks.fidelity_reference import ours_to_natmu
from benchmarks.synthetic_cifar import write_learnable_cifar100
from unlearn_cli.artifacts import Manifest, Workspace, load_table, load_tensors, save_tensors
from unlearn_cli.data.prepared import DatasetInfo
from unlearn_cli.errors import InputError
from unlearn_cli.steps.common import model_info
from unlearn_cli.steps.evaluate import evaluate
from unlearn_cli.steps.forget_set import make_forget_set
from unlearn_cli.steps.options import EvaluateOptions, ForgetSetOptions, PrepareOptions, PretrainOptions, UnlearnOptions
from unlearn_cli.steps.prepare_data import prepare_dataset
from unlearn_cli.steps.pretrain import pretrain
from unlearn_cli.steps.unlearn import unlearn
from unlearn_cli.train.options import GenericOptions

PRESET = "natmu-cifar100"
# NatMU's sample-wise/scripts/cifar100/{natmu,badteacher,salun,amn}.sh, after `--seed=$seed`.
REFERENCE_SCRIPTS = {
    "natmu": ("natmu", ["--delta=-0.03", "--lr=0.0011", "--opt=adamw", "--wd=0.0005"]),
    "badteacher": ("blindspot", ["--lr=0.00028", "--opt=adamw", "--wd=0.0009", "--temp=2.4"]),
    "salun": ("salun", ["--lr=0.000057", "--opt=adamw", "--wd=0.001", "--threshold=0.21"]),
    "random_label": ("amnesiac", ["--lr=0.000019", "--opt=adamw", "--wd=0.0008"]),
}
COMMON_ARGS = ["-r", "--dataset=cifar100", "--model=ResNet18", "-nd"]
UNLEARN_EPOCHS = 5  # every NatMU script passes --epoch=5
METRICS = ("FA", "RA", "TA", "mia_entropy", "avg_gap")
FORGET_PER = 10


@dataclass(frozen=True)
class Setting:
    ws: Workspace
    model: str
    forget: str
    retrain: str
    data: Path  # the cifar-100-python folder the reference reads


def build_setting(workdir: Path, train_size: int, test_size: int, epochs: int, device: str | None) -> Setting:
    """The harness's own setting (each step skipped when its artifact exists)."""
    ws = Workspace.at(workdir / "workspace")
    data = workdir / "source" / "cifar-100-python"
    if not data.exists():
        write_learnable_cifar100(workdir / "source", train_size, test_size, seed=0)
    if not ws.exists("dataset", "cifar100"):
        prepare_dataset(ws, PrepareOptions(dataset="cifar100", source=data))
    model = "cifar100-resnet18-s0"
    if not ws.exists("model", model):
        pretrain(ws, PretrainOptions(dataset="cifar100", model="resnet18", recipe="natmu", epochs=epochs,
                                     device=device, name=model, resume=ws.ckpt_path(model, ".resume").exists()))
    forget = f"{model}-per{FORGET_PER}-s0"
    if not ws.exists("forget-set", forget):
        make_forget_set(ws, ForgetSetOptions(model=model, kind="per", params={"per": FORGET_PER}, name=forget))
    retrain = f"{forget}-retrain-s0"
    if not ws.exists("unlearned", retrain):
        unlearn(ws, UnlearnOptions(method="retrain", forget=forget, device=device, name=retrain, resume=True))
    return Setting(ws, model, forget, retrain, data)


def _forget_rows(ws: Workspace, forget: str) -> np.ndarray:
    table = load_table(ws.abs(ws.read("forget-set", forget).files["index"].path))
    mask = np.asarray(table.column("forget").to_pylist(), dtype=bool)
    return np.asarray(table.column("index").to_pylist(), dtype=np.int64)[mask]


def _reference_folder(setting: Setting, workdir: Path) -> tuple[Path, Path]:
    """NatMU's layout for the scripts: `run/idx/cifar100_idx_10%.npy`, `run/tmp/`, `run/ckpt/`
    and `data/cifar100/`, plus the original weights as its resume checkpoint. Returns (run
    folder, checkpoint)."""
    root = workdir / "reference"
    run = root / "run"
    for folder in ("idx", "tmp", "ckpt"):  # update_ckpt writes under tmp/, save_running_results moves to ckpt/
        (run / folder).mkdir(parents=True, exist_ok=True)
    np.save(run / "idx" / f"cifar100_idx_{FORGET_PER}%.npy", _forget_rows(setting.ws, setting.forget))
    data = root / "data"
    data.mkdir(exist_ok=True)
    link = data / "cifar100"
    if not link.exists():
        link.symlink_to(setting.data.resolve(), target_is_directory=True)
    model = setting.ws.read("model", setting.model)
    dataset = setting.ws.read("dataset", "cifar100")
    seen = model_info(setting.ws, model, DatasetInfo.from_manifest(dataset))
    checkpoint = root / "original.pth"
    state = load_tensors(setting.ws.abs(model.files["weights"].path))
    torch.save({"net": ours_to_natmu(state, seen.mean, seen.std)}, checkpoint)
    return run, checkpoint


def run_reference(setting: Setting, clone: Path, method: str, seed: int, run_root: Path, checkpoint: Path,
                  epochs: int) -> str:
    """NatMU's script for `method` with seed `seed`; its model becomes the unlearned artifact
    `fid-ref-<method>-s<seed>` of the workspace."""
    name = f"fid-ref-{method}-s{seed}"
    ws = setting.ws
    if ws.exists("unlearned", name):
        return name
    script, args = REFERENCE_SCRIPTS[method]
    out = run_root.parent / f"{name}.safetensors"
    command = [sys.executable, "-m", "benchmarks.fidelity_reference", "--natmu-repo", str(clone.resolve()),
               "--script", script, "--out", str(out.resolve()), "--", *COMMON_ARGS, f"--epoch={epochs}", f"--seed={seed}",
               f"--forget_per={FORGET_PER}", f"--resumeCKPT={checkpoint.resolve()}", *args]
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    started = time.perf_counter()
    log = run_root.parent / f"{name}.log"
    with open(log, "w") as sink:
        done = subprocess.run(command, cwd=run_root, env=env, stdout=sink, stderr=subprocess.STDOUT)
    if done.returncode:
        raise InputError(f"NatMU's {script}.py failed (exit {done.returncode})", hint=f"see {log}")
    wall = time.perf_counter() - started
    model = ws.read("model", setting.model)
    forget = ws.read("forget-set", setting.forget)
    weights = ws.ckpt_path(name, kind="unlearned")
    ws.check_new("unlearned", name, False)
    with ws.replacing("unlearned", name, [weights]):
        save_tensors(weights, load_tensors(out), {"architecture": "resnet18", "method": method})
        printed = json.loads(out.with_suffix(".json").read_text())
        ws.write(Manifest(kind="unlearned", name=name, parents={"model": ws.parent_ref(model),
                                                                "forget": ws.parent_ref(forget)},
                          config={"method": method, "seed": seed, "preset": PRESET, "side": "reference",
                                  "script": script, "arguments": command[command.index("--") + 1:],
                                  "architecture": model.config["architecture"]},
                          files={"weights": ws.file_ref(weights)},
                          summary={"wall_seconds": wall, "reference_printed": printed}))
    return name


def run_ours(setting: Setting, method: str, seed: int, device: str | None, switches: str, epochs: int) -> str:
    name = f"fid-ours-{method}-s{seed}"
    if not setting.ws.exists("unlearned", name):
        exact = {"amp": False, "channels_last": False, "compile": False} if switches == "fp32" else {}
        generic = GenericOptions(epochs=epochs if epochs != UNLEARN_EPOCHS else None)
        unlearn(setting.ws, UnlearnOptions(method=method, forget=setting.forget, preset=PRESET, seed=seed,
                                           device=device, name=name, resume=True, generic=generic, **exact))
    return name


def _evaluation(setting: Setting, run: str, device: str | None) -> dict[str, float]:
    if not setting.ws.exists("evaluation", run):
        return evaluate(setting.ws, EvaluateOptions(run=run, reference=setting.retrain, name=run, device=device)).metrics
    return dict(setting.ws.read("evaluation", run).summary)


def _stats(values: list[float]) -> tuple[float, float]:
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else float("nan"))


def run_fidelity(args: argparse.Namespace) -> dict:
    workdir = args.workdir
    workdir.mkdir(parents=True, exist_ok=True)
    if not (args.natmu_repo / "sample-wise" / "natmu.py").is_file():
        raise InputError(f"{args.natmu_repo} is not a clone of ZhengbaoHe/NatMU (no sample-wise/natmu.py)",
                         hint="git clone https://github.com/ZhengbaoHe/NatMU and pass its folder")
    if args.workspace is not None:
        if None in (args.model, args.forget, args.data, args.retrain):
            raise InputError("--workspace needs --model, --forget, --retrain and --data",
                             hint="or leave --workspace out to let the harness build its own setting")
        setting = Setting(Workspace.at(args.workspace), args.model, args.forget, args.retrain, args.data)
    else:
        setting = build_setting(workdir, args.train_size, args.test_size, args.epochs, args.device)
    run_root, checkpoint = _reference_folder(setting, workdir)
    results: dict[str, dict] = {}
    skipped: list[str] = []
    for method in args.methods:
        sides: dict[str, list[dict]] = {"ours": [], "reference": []}
        for seed in args.seeds:
            ours = run_ours(setting, method, seed, args.device, args.ours_switches, args.unlearn_epochs)
            if setting.ws.read("unlearned", ours).summary.get("pairing") == "balanced":
                # NatMU's pairing loops forever on this setting and seed (natmu.py:65-75 reshuffles
                # until every class has the rows it is asked for): nothing to compare.
                skipped.append(f"{method} seed {seed}: NatMU's pairing does not terminate on this setting")
                continue
            reference = run_reference(setting, args.natmu_repo, method, seed, run_root, checkpoint,
                                      args.unlearn_epochs)
            for side, run in (("ours", ours), ("reference", reference)):
                metrics = _evaluation(setting, run, args.device)
                metrics["wall_seconds"] = setting.ws.read("unlearned", run).summary["wall_seconds"]
                if side == "reference":
                    metrics["printed"] = setting.ws.read("unlearned", run).summary["reference_printed"]
                sides[side].append(metrics)
        if sides["ours"]:
            results[method] = sides
    report = {"skipped": skipped,"setting": {"workspace": str(setting.ws.root), "model": setting.model, "forget": setting.forget,
                          "retrain": setting.retrain, "seeds": list(args.seeds), "ours_switches": args.ours_switches,
                          "unlearn_epochs": args.unlearn_epochs,
                          "torch_threads": torch.get_num_threads()},
              "methods": {m: _summary(sides) for m, sides in results.items()}, "runs": results}
    (workdir / "fidelity.json").write_text(json.dumps(report, indent=2))
    if args.json:
        print(format_table(report), file=sys.stderr)
        print(json.dumps(report, indent=2))
    else:
        print(format_table(report))
    return report


def _summary(sides: dict[str, list[dict]]) -> dict:
    out = {}
    for metric in (*METRICS, "wall_seconds"):
        ours = _stats([r[metric] for r in sides["ours"]])
        ref = _stats([r[metric] for r in sides["reference"]])
        out[metric] = {"ours": ours, "reference": ref, "difference": ours[0] - ref[0]}
    printed = [r["printed"] for r in sides["reference"]]
    out["reference_printed"] = {k: _stats([p[k] for p in printed]) for k in ("FA", "TA", "mia_entropy")}
    return out


def format_table(report: dict) -> str:
    header = "| method | metric | ours | NatMU | ours − NatMU |"
    lines = [header, "|---|---|---:|---:|---:|"]
    notes = [f"not compared: {line}" for line in report["skipped"]]
    for method, summary in report["methods"].items():
        for metric in (*METRICS, "wall_seconds"):
            cell = summary[metric]
            (om, osd), (rm, rsd) = cell["ours"], cell["reference"]
            lines.append(f"| {method} | {metric} | {om:.2f} ± {osd:.2f} | {rm:.2f} ± {rsd:.2f} | "
                         f"{cell['difference']:+.2f} |")
    return "\n".join(lines + notes)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m benchmarks.fidelity", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--natmu-repo", type=Path, required=True, help="a local clone of ZhengbaoHe/NatMU")
    p.add_argument("--workdir", type=Path, required=True, help="the harness's folder (setting, scratch, results)")
    p.add_argument("--workspace", type=Path, help="an existing workspace (with --model/--forget/--retrain/--data)")
    p.add_argument("--model")
    p.add_argument("--forget")
    p.add_argument("--retrain", help="the retrain run on --forget (the avg_gap reference)")
    p.add_argument("--data", type=Path, help="the cifar-100-python folder the workspace's dataset came from")
    p.add_argument("--methods", type=lambda s: s.split(","), default=list(REFERENCE_SCRIPTS),
                   help="comma-separated (default: natmu,badteacher,salun,random_label)")
    p.add_argument("--seeds", type=lambda s: [int(v) for v in s.split(",")], default=[0, 1, 2])
    p.add_argument("--train-size", type=int, default=1400)
    p.add_argument("--test-size", type=int, default=1000)
    p.add_argument("--epochs", type=int, default=30, help="pretraining epochs of the built setting (NatMU: 100)")
    p.add_argument("--unlearn-epochs", type=int, default=UNLEARN_EPOCHS,
                   help="epochs of every unlearning run on both sides (NatMU's scripts: 5; fewer for a smoke test)")
    p.add_argument("--device", default=None)
    p.add_argument("--ours-switches", choices=["fp32", "default"], default="fp32")
    p.add_argument("--json", action="store_true", help="the results as JSON on stdout (the table on stderr)")
    return p


def main(argv: Sequence[str] | None = None) -> dict:
    args = _parser().parse_args(argv)
    unknown = sorted(set(args.methods) - set(REFERENCE_SCRIPTS))
    if unknown:
        raise InputError(f"no NatMU script for {', '.join(unknown)}", hint=f"choose from {', '.join(REFERENCE_SCRIPTS)}")
    return run_fidelity(args)


if __name__ == "__main__":
    sys.exit(run_cli(main))
