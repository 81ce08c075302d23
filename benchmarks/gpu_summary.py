"""The headline figures of one `benchmarks/gpu.sh` run, from the JSON its stages wrote.

    python -m benchmarks.gpu_summary "$OUT" > "$OUT/summary.json"

Reads env.json, throughput.json, evaluate.json, natmu.json, methods.json, fidelity.json, audit.json and the stage
statuses (.status: "name status seconds" lines). A stage that ran out of time has no JSON;
for the natmu and methods stages the summary then reads what their progress lines in gpu.log
say (epochs done and images/s so far; the methods timed so far).
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

from unlearn_cli.train.recipes import resolve_recipe

EPOCH_LINE = re.compile(r"^pretrain \S+: epoch (?P<epoch>\d+) step (?P<step>\d+)/(?P<total>\d+) .*"
                        r"elapsed (?P<elapsed>[0-9.]+)s$")
METHOD_LINE = re.compile(r"^(?P<method>[a-z_0-9]+)\s+(?P<seconds>[0-9.]+) s\s+(?P<steps>\d+) steps$")
# A retrain runs the pretraining recipe on D_r, 90 % of the training set.
RETRAIN_SHARE = 0.9

# The GPU targets: ours ≥ 8× the seed-style pipeline and ≥ 70 000 images/s (H100-class).
TARGET_RATIO = 8.0
TARGET_IMAGES_PER_SECOND = 70_000.0


def _read(folder: Path, name: str) -> dict[str, Any] | None:
    path = folder / name
    return json.loads(path.read_text()) if path.exists() else None


def _stages(folder: Path) -> dict[str, dict[str, Any]]:
    path = folder / ".status"
    stages = {}
    for line in path.read_text().splitlines() if path.exists() else []:
        name, status, seconds = line.split()
        stages[name] = {"status": status, "seconds": int(seconds)}
    return stages


def _stage_log(folder: Path, stage: str) -> list[str]:
    """The lines gpu.sh logged while `stage` ran."""
    path = folder / "gpu.log"
    lines = path.read_text(errors="replace").splitlines() if path.exists() else []
    inside, kept = False, []
    for line in lines:
        if line.startswith("gpu.sh: stage "):
            inside = line.startswith(f"gpu.sh: stage {stage} ")
            continue
        if inside:
            kept.append(line)
    return kept


def _partial_recipe(folder: Path, batch: int) -> dict[str, Any] | None:
    """How far a cut-short recipe run got, from its last per-epoch progress line."""
    last = None
    for line in _stage_log(folder, "natmu"):
        match = EPOCH_LINE.match(line)
        if match:
            last = match
    if last is None:
        return None
    step, total, elapsed = int(last["step"]), int(last["total"]), float(last["elapsed"])
    rate = step * batch / elapsed  # includes compilation warm-up: a lower bound
    return {"complete": False, "epochs_done": int(last["epoch"]), "steps_done": step, "total_steps": total,
            "elapsed_seconds": elapsed, "images_per_second_so_far": rate,
            "projected_wall_seconds": total * batch / rate}


def summarise(folder: Path) -> dict[str, Any]:
    summary: dict[str, Any] = {"env": _read(folder, "env.json"), "stages": _stages(folder)}
    throughput = _read(folder, "throughput.json")
    if throughput is not None:
        ours = throughput["ours"]["images_per_second"]
        ratio = throughput["ratio_ours_over_reference"]
        summary["throughput"] = {
            "ours_images_per_second": ours,
            "reference_images_per_second": throughput["reference"]["images_per_second"],
            "ratio_ours_over_reference": ratio,
            "ours_switches": {k: throughput["ours"]["detail"][k] for k in ("amp", "channels_last", "compile")},
            "reference_workers": throughput["reference"]["detail"]["num_workers"],
            "batch_size": throughput["config"]["batch_size"], "width": throughput["config"]["width"],
            "meets_ratio_target": ratio >= TARGET_RATIO,
            "meets_images_per_second_target": ours >= TARGET_IMAGES_PER_SECOND,
        }
    evaluation = _read(folder, "evaluate.json")
    if evaluation is not None:
        summary["evaluate"] = {k: evaluation[k] for k in ("best_seconds", "seconds", "images", "images_per_second",
                                                          "speed")}
    natmu = _read(folder, "natmu.json")
    if natmu is not None:
        summary["natmu_recipe"] = {"complete": True, **natmu}
    elif "natmu" in summary["stages"]:
        summary["natmu_recipe"] = _partial_recipe(folder, resolve_recipe("natmu", "cifar10", "resnet18").batch_size)
    full_retrain = None
    if natmu is not None:
        full_retrain = RETRAIN_SHARE * natmu["wall_seconds"]
    elif summary.get("natmu_recipe"):
        full_retrain = RETRAIN_SHARE * summary["natmu_recipe"]["projected_wall_seconds"]
    methods = _read(folder, "methods.json")
    if methods is not None:
        config = methods["config"]
        summary["methods_setting"] = {k: config[k] for k in ("dataset", "model", "width", "recipe", "pretrain_epochs",
                                                              "train_size", "speed")}
        timed = [{k: m[k] for k in ("method", "wall_seconds", "steps", "rte")} for m in methods["methods"]]
    else:
        timed = [{"method": m["method"], "wall_seconds": float(m["seconds"]), "steps": int(m["steps"])}
                 for m in map(METHOD_LINE.match, _stage_log(folder, "methods")) if m]
        retrain = next((t["wall_seconds"] for t in timed if t["method"] == "retrain"), None)
        for t in timed:
            t["rte"] = retrain / t["wall_seconds"] if retrain and t["wall_seconds"] > 0 else None
    audit = _read(folder, "audit.json")
    if audit is not None:
        summary["audit"] = {
            "setting": {k: audit["config"][k] for k in ("dataset", "model", "width", "method", "models", "train_size",
                                                        "jobs", "gpu")},
            **{k: audit["audits"][0][k] for k in ("complete", "wall_seconds", "projected_wall_seconds",
                                                   "nodes_run", "nodes_planned", "models_trained",
                                                   "seconds_per_model", "plan_seconds")},
        }
    fidelity = _read(folder, "fidelity.json")
    if fidelity is not None:
        summary["fidelity"] = {"setting": fidelity["setting"], "methods": fidelity["methods"]}
    if timed:
        for t in timed:
            # Against a retrain with the full 100-epoch recipe (estimated from the natmu stage).
            t["rte_vs_full_recipe_retrain"] = (full_retrain / t["wall_seconds"]
                                               if full_retrain and t["wall_seconds"] > 0 else None)
        summary["methods"] = timed
    return summary


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m benchmarks.gpu_summary OUT_FOLDER", file=sys.stderr)
        return 2
    print(json.dumps(summarise(Path(argv[0])), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
