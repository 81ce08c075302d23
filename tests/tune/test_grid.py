"""A sweep grid that tunes: `tune = {...}` in a [[methods]] entry makes one study per forget set,
whose best preset the method's cells run with; its settings are checked at plan time with the
grid's line."""

from __future__ import annotations

import json

import pytest

from tests.conftest import Cli
from unlearn_cli.errors import InputError
from unlearn_cli.steps.options import TUNED_PRESET
from unlearn_cli.sweep.grid import load_grid
from unlearn_cli.sweep.plan import build_plan

GRID = """\
datasets = ["digits"]
models = ["cnn"]
[pretrain]
width = [0.25]
epochs = [4]
val_fraction = [0.1]
[forget]
fraction = [0.1]
[[methods]]
name = "finetune"
tune = { trials = 3, space = ["epochs=1:2"] }
[[methods]]
name = "retrain"
reference = true
"""
MODEL = "digits-cnn-w0.25-val0.1-e4-s0"
FORGET = f"{MODEL}-frac0.1-s0"
STUDY = f"{FORGET}-finetune"


def _grid(tmp_path, text: str = GRID):
    path = tmp_path / "grid.toml"
    path.write_text(text)
    return path


def test_a_tuned_entry_plans_a_study_its_cells_wait_for(tmp_path):
    nodes = build_plan(load_grid(_grid(tmp_path))).nodes
    model = nodes[f"model/{MODEL}"]
    assert model.options.val_fraction == 0.1
    tune = nodes[f"tune/{STUDY}"]
    assert (tune.options.method, tune.options.trials, tune.options.space) == ("finetune", 3, ("epochs=1:2",))
    assert set(tune.deps) == {f"model/{MODEL}", f"forget-set/{FORGET}"}
    run = nodes[f"unlearned/{FORGET}-finetune-tuned-s0"]
    assert run.options.preset == TUNED_PRESET + STUDY and f"tune/{STUDY}" in run.deps
    assert nodes[f"unlearned/{FORGET}-retrain-s0"].options.preset is None


@pytest.mark.parametrize(("entry", "fragment"), [
    ('name = "finetune"\ntune = { trials = 3, space = ["alpha=0:1"] }', "alpha is not a setting of method 'finetune'"),
    ('name = "finetune"\ntune = { trials = 0 }', "--trials 0 is not positive"),
    ('name = "finetune"\ntune = { objective = "best" }', "unknown objective 'best'"),
    ('name = "retrain"\ntune = { trials = 3 }', "nothing to tune"),
])
def test_a_bad_tune_table_is_refused_at_its_line(tmp_path, entry, fragment):
    text = GRID.replace('name = "finetune"\ntune = { trials = 3, space = ["epochs=1:2"] }', entry)
    with pytest.raises(InputError) as raised:
        build_plan(load_grid(_grid(tmp_path, text)))
    assert fragment in raised.value.message and "grid.toml:1" in raised.value.message


@pytest.mark.slow
def test_a_grid_tunes_then_runs_the_best_preset(ws, tmp_path):
    result = Cli(ws)("sweep", str(_grid(tmp_path)), "--device", "cpu")
    assert result.exit_code == 0, result.stderr
    best = json.loads((ws.root / "tune" / STUDY / "summary.json").read_text())["best"]["values"]
    run = ws.read("unlearned", f"{FORGET}-finetune-tuned-s0")
    recipe = run.config["training"]["recipe"]
    assert recipe["optimizer"]["lr"] == best["lr"] and recipe["epochs"] == best["epochs"]
    # The study's retrain is the grid's reference: made once.
    assert ws.read("unlearned", f"{FORGET}-retrain-s0").config["method"] == "retrain"


def test_a_tuned_preset_of_a_study_that_has_not_run_is_one_line(cli):
    from tests.conftest import assert_one_line_error

    assert_one_line_error(cli("unlearn", "--method", "finetune", "--forget", "f", "--preset", "tune:nope"),
                          "study nope has no best preset in this workspace yet", "unlearn tune")
