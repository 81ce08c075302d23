"""--plan's compute estimate: the steps a pretraining will take and the seconds similar runs took."""

from __future__ import annotations

import pytest

from tests.sweep.helpers import SMALL_GRID, write_grid
from unlearn_cli.artifacts import Workspace
from unlearn_cli.sweep.display import plan_table
from unlearn_cli.sweep.estimate import estimate_plan
from unlearn_cli.sweep.run import SweepOptions, plan_sweep

pytestmark = pytest.mark.slow  # reads the swept baseline workspace


def test_a_new_seed_is_estimated_from_the_finished_one(baseline: Workspace, tmp_path):
    grid = write_grid(tmp_path, SMALL_GRID.replace("width = 0.25\n", "width = 0.25\nseeds = [0, 1]\n"))
    planned = plan_sweep(baseline, SweepOptions(grid=grid))
    estimates = estimate_plan(baseline, planned.plan.nodes.values(), planned.status)

    model = baseline.read("model", next(name for name in baseline.names("model") if name.endswith("-s0")))
    pretrain = estimates["pretrain"]
    assert (pretrain.nodes, pretrain.timed) == (1, 1)  # seed 1 to run, timed by seed 0
    assert pretrain.steps == model.summary["steps"]  # what seed 0 really ran
    assert pretrain.seconds == pytest.approx(model.summary["wall_seconds"])

    runs = [baseline.read("unlearned", name) for name in baseline.names("unlearned")]
    unlearn = estimates["unlearn"]
    assert (unlearn.nodes, unlearn.timed) == (3, 3)  # retrain, finetune, ssd on the new model
    assert unlearn.steps is None
    assert unlearn.seconds == pytest.approx(sum(run.summary["wall_seconds"] for run in runs))
    assert "evaluate" not in estimates  # only training steps are estimated

    table = plan_table("sweep small", planned.counts(), estimates)
    assert f"{model.summary['steps']:,} steps" in table and "for 3 of 3" in table


def test_a_run_with_other_settings_does_not_time_a_node(baseline: Workspace, tmp_path):
    grid = write_grid(tmp_path, SMALL_GRID.replace("epochs = 3", "epochs = 4").replace("[unlearn]\nseeds = [0]\nepochs = 1",
                                                                                    "[unlearn]\nseeds = [0]\nepochs = 2"))
    planned = plan_sweep(baseline, SweepOptions(grid=grid))
    estimates = estimate_plan(baseline, planned.plan.nodes.values(), planned.status)
    assert estimates["pretrain"].timed == 0  # 4 epochs: no finished model like it
    assert estimates["pretrain"].steps is not None  # but its steps are known
    assert estimates["unlearn"].timed == 1  # ssd does not train, so its epochs do not apply
    assert "no similar run" in plan_table("sweep small", planned.counts(), {"pretrain": estimates["pretrain"]})
