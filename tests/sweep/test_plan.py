"""--plan: the expanded DAG's counts against a hand count, its names and order, collisions, the
papers' grids, and what "done" means."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import assert_one_line_error
from tests.sweep.helpers import SMALL_GRID, write_grid
from unlearn_cli.sweep.grid import load_grid
from unlearn_cli.sweep.plan import build_plan
from unlearn_cli.sweep.status import DONE, REDO, TODO, plan_status

GRIDS = Path(__file__).resolve().parents[2] / "grids"

CROSSED = """\
name = "crossed"
datasets = ["digits"]
models = ["cnn"]
[pretrain]
width = [0.25, 0.5]
seeds = [0, 1]
epochs = 1
[unlearn]
seeds = [0, 1, 2]
[[methods]]
name = "retrain"
[[methods]]
name = "finetune"
lr = [0.01, 0.1]
[[methods]]
name = "ssd"
params = { alpha = [1, 10], lam = { times = "alpha", by = [0.5, 2] } }
[[settings]]
forget.per = [10, 110]
[[settings]]
manipulation.kinds = ["poison"]
manipulation.sizes = [20, 30]
manipulation.known = [0.5, 1.0]
"""


def plan_json(cli, grid: Path, *extra: str) -> dict:
    result = cli("sweep", str(grid), "--plan", "--json", *extra)
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def test_plan_counts_equal_a_hand_count(cli, tmp_path):
    counts = plan_json(cli, write_grid(tmp_path, CROSSED))["counts"]
    models = 2 * 2  # widths × pretrain seeds
    runs = 1 + 2 + 2 * 2  # retrain, finetune × 2 lr, ssd × 2 alpha × 2 lam
    # Setting 1: every model × per 10, per 110. Setting 2: 2 manipulations (sizes), each
    # pretrained on once by its own 4 models, whose forget sets are the 2 known fractions.
    targets = models * 2 + 2 * models * 2
    hand = {"prepare": 1, "pretrain": models + 2 * models, "forget": models * 2 + 2 + 2 * models * 2,
            "unlearn": targets * 3 * runs, "evaluate": targets * 3 * runs + targets, "report": 1}
    assert {label: row["nodes"] for label, row in counts.items()} == hand
    assert all(row["done"] == 0 and row["to run"] == row["nodes"] for row in counts.values())


def test_plan_table_on_stdout(cli, tmp_path):
    result = cli("sweep", str(write_grid(tmp_path)), "--plan")
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("sweep small: ")
    assert lines[1].split() == ["step", "nodes", "done", "to", "run", "estimate"]
    assert lines[4].split() == ["forget", "1", "0", "1"] and lines[-1].split() == ["total", "11", "0", "11"]
    # Nothing prepared and nothing run yet: no steps to count, no similar run to time by.
    assert lines[3].split()[:4] == ["pretrain", "1", "0", "1"] and "no similar run" in lines[3]
    assert not (cli.workspace.root / "manifests").exists()


def test_names_and_dependencies(tmp_path):
    plan = build_plan(load_grid(write_grid(tmp_path, CROSSED)))
    nodes = plan.nodes
    model = "digits-cnn-w0.25-e1-s1"
    forget = f"{model}-per110-s0"
    assert nodes[f"model/{model}"].deps == ("dataset/digits",)
    # The same model from `unlearn pretrain` (no --name) gets the same name: one rule for both.
    assert nodes[f"model/{model}"].options.default_name("digits") == model
    assert nodes[f"forget-set/{forget}"].deps == (f"model/{model}",)
    run = f"{forget}-ssd-alpha1-lam0.5-s2"
    assert nodes[f"unlearned/{run}"].deps == (f"model/{model}", f"forget-set/{forget}")
    assert nodes[f"unlearned/{forget}-finetune-lr0.1-s0"].options.generic.lr == 0.1
    assert nodes[f"evaluation/{run}"].deps == (f"unlearned/{run}", f"unlearned/{forget}-retrain-s2")
    assert nodes[f"evaluation/{run}"].options.reference == f"{forget}-retrain-s2"
    assert nodes[f"evaluation/{forget}--original"].options.reference == f"{forget}-retrain-s0"
    # A manipulation names the model trained on it; its known fractions are forget sets of that
    # model (pretrained once for every fraction), and the runs on them start with their names.
    manipulation = "digits-poison30-s0"
    poisoned = f"{manipulation}-cnn-w0.5-e1-s0"
    assert nodes[f"model/{poisoned}"].deps == ("dataset/digits", f"forget-set/{manipulation}")
    assert nodes[f"model/{poisoned}"].options.manipulation == manipulation
    assert nodes[f"forget-set/{manipulation}"].options.manipulation.known == 1.0
    known = f"{poisoned}-known0.5-s0"
    assert nodes[f"forget-set/{known}"].deps == (f"model/{poisoned}",)
    assert (nodes[f"forget-set/{known}"].options.kind, nodes[f"forget-set/{known}"].options.params) == \
        ("known", {"fraction": 0.5})
    assert f"unlearned/{known}-retrain-s1" in nodes and f"forget-set/{poisoned}-known1-s0" in nodes
    # Every node comes after its dependencies, and the report needs every evaluation.
    seen: set[str] = set()
    for node in nodes.values():
        assert set(node.deps) <= seen, node.id
        seen.add(node.id)
    assert set(plan.report.deps) == {n for n in nodes if n.startswith("evaluation/")}


@pytest.mark.parametrize(("extra", "fragments"), [
    # Two imported index files with one stem make one forget-set name.
    ('[forget]\nindices = ["a/rows.npy", "b/rows.npy"]\n', ["forget-set 'digits-cnn-w0.25-e3-s0-indices-rows-s0'"]),
    # Learning rates equal to 6 significant digits make one run name.
    ('[[methods]]\nname = "finetune"\nlr = [1e-7, 1.0000001e-7]\n', ["unlearned", "finetune-e1-lr1e-07-s0"]),
])
def test_cells_writing_one_artifact_twice_are_refused(cli, tmp_path, extra, fragments):
    text = SMALL_GRID.replace("[forget]\nper = [10]\n", "") if "indices" in extra else SMALL_GRID
    grid = write_grid(tmp_path, text + extra)
    result = cli("sweep", str(grid), "--plan")
    assert_one_line_error(result, "two cells of the grid would write the same", *fragments, f"{grid}:")


def test_a_cell_shared_by_two_settings_is_one_node(tmp_path):
    text = SMALL_GRID + '[[settings]]\nmodels = ["cnn"]\n[[settings]]\nmodels = ["cnn"]\n'
    assert len(build_plan(load_grid(write_grid(tmp_path, text))).nodes) == 11


# The papers' grids, at full size: the scripts' runs per cell, times the cells.
PAPER_COUNTS = {
    # 2 settings × per 1/10/101/110 × (retrain + 4 methods), + one "before" evaluation per forget set.
    "natmu-samplewise": {"prepare": 2, "pretrain": 2, "forget": 8, "unlearn": 40, "evaluate": 48, "report": 1},
    # (5 classes on CIFAR-100 + 5 sub-classes on CIFAR-20) × 5 methods.
    "natmu-classwise": {"prepare": 2, "pretrain": 2, "forget": 10, "unlearn": 50, "evaluate": 60, "report": 1},
    # 2 datasets × 3 sizes × 10 known fractions, 65 runs each: the 1950 lines of each of the corrective
    # repository's scripts/CIFAR10_poisoning.sh and CIFAR100_poisoning.sh (IC: CIFAR10_IC.sh, CIFAR100_IC.sh).
    # One model per manipulation (6), as the repository pretrains once per (dataset, size); the
    # 60 known fractions are forget sets of those models, beside the 6 manipulations.
    "corrective-poison": {"prepare": 2, "pretrain": 6, "forget": 66, "unlearn": 3900, "evaluate": 3960, "report": 1},
    "corrective-interclass": {"prepare": 2, "pretrain": 6, "forget": 66, "unlearn": 3900, "evaluate": 3960,
                              "report": 1},
}


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(PAPER_COUNTS))
def test_the_papers_grids_plan_to_their_scripts_counts(cli, name):
    counts = plan_json(cli, GRIDS / f"{name}.toml")["counts"]
    assert {label: row["nodes"] for label, row in counts.items()} == PAPER_COUNTS[name]


@pytest.mark.slow
def test_the_corrective_cell_is_the_scripts_cell(tmp_path):
    """One (dataset, size, known) cell of corrective-poison: the scripts' 65 runs, with their values."""
    plan = build_plan(load_grid(GRIDS / "corrective-poison.toml"))
    model = "cifar10-poison500-s0-resnet9-corrective-s0"
    forget = f"{model}-known0.3-s0"
    runs = [node for node in plan.nodes.values() if node.step == "unlearn" and node.options.forget == forget]
    assert len(runs) == 65
    ssd = sorted((node.options.params["alpha"], node.options.params["lam"]) for node in runs if node.options.method == "ssd")
    assert ssd[:5] == [(0.1, 0.1 * 0.1), (0.1, 0.1 * 0.5), (0.1, 0.1), (0.1, 0.5), (0.1, 1.0)]
    assert (1e6, 1e7) in ssd and len(ssd) == 50
    assert sorted(n.options.params["alpha"] for n in runs if n.options.method == "scrub") == \
        [0.001, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0]
    assert sorted(n.options.params.get("k", -1) for n in runs if n.options.method in ("retrain", "finetune")) == \
        [-1, -1, 2, 2, 4, 4]
    assert {n.options.preset for n in runs} == {"corrective-cifar10"}
    manipulation = plan.nodes["forget-set/cifar10-poison500-s0"].options.manipulation
    assert (manipulation.kind, manipulation.size, manipulation.patch_size) == ("poison", 500, 3)
    assert plan.nodes[f"forget-set/{forget}"].options.params == {"fraction": 0.3}


def test_status_done_todo_and_redo(baseline, tmp_path):
    """Done nodes are found done; a damaged artifact and everything made from it are redone."""
    from tests.steps.pipeline import copy_workspace

    ws = copy_workspace(baseline, tmp_path / "ws")
    grid = write_grid(tmp_path)
    plan = build_plan(load_grid(grid))
    assert set(plan_status(ws, plan).values()) == {DONE}
    extended = build_plan(load_grid(write_grid(tmp_path, SMALL_GRID.replace("seeds = [0]", "seeds = [0, 1]"))))
    status = plan_status(ws, extended)
    assert sorted(node for node, state in status.items() if state != DONE) == sorted(
        [f"unlearned/digits-cnn-w0.25-e3-s0-per10-s0-{m}-e1-s1" for m in ("retrain", "finetune")]
        + ["unlearned/digits-cnn-w0.25-e3-s0-per10-s0-ssd-s1", "report/small"]
        + [f"evaluation/digits-cnn-w0.25-e3-s0-per10-s0-{m}-e1-s1" for m in ("retrain", "finetune")]
        + ["evaluation/digits-cnn-w0.25-e3-s0-per10-s0-ssd-s1"])
    forget = ws.table_path("forget-set", "digits-cnn-w0.25-e3-s0-per10-s0", "index")
    forget.write_bytes(forget.read_bytes() + b"x")
    status = plan_status(ws, plan)
    assert status["forget-set/digits-cnn-w0.25-e3-s0-per10-s0"] == REDO
    assert status["model/digits-cnn-w0.25-e3-s0"] == DONE
    assert {status[n] for n in status if n.startswith(("unlearned/", "evaluation/", "report/"))} == {REDO}
    ws.manifest_path("model", "digits-cnn-w0.25-e3-s0").unlink()
    assert plan_status(ws, plan)["model/digits-cnn-w0.25-e3-s0"] == TODO


def test_plan_counts_what_is_done(cli, baseline):
    result = plan_json(cli, write_grid(Path(str(baseline.root)).parent), "--workspace", str(baseline.root))
    assert all(row["done"] == row["nodes"] for row in result["counts"].values())
    assert {node["status"] for node in result["nodes"]} == {"done"}


def test_the_readme_grid_plans(cli, tmp_path):
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    text = readme.split("A grid file (TOML):\n\n```toml\n", 1)[1].split("```", 1)[0]
    grid = write_grid(tmp_path, text, "mine.toml")
    counts = plan_json(cli, grid)["counts"]
    # cifar10 × resnet18 × per 10, 110 × 3 seeds × (retrain, finetune × 2, ssd × 4); EU-k is for resnet9 only
    assert counts["unlearn"]["nodes"] == 2 * 3 * 7 and counts["pretrain"]["nodes"] == 1
    assert plan_json(cli, grid, "--smoke")["sweep"] == "mine-smoke"
