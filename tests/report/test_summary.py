"""Grouping and aggregation: the numbers a report prints, computed by hand from fixture
evaluations; settings never merged; seeds as replicates; sweeps as separate rows."""

from __future__ import annotations

import math

import pytest

from tests.report.fixtures import Chain
from unlearn_cli.errors import InputError
from unlearn_cli.report import read_record, summarize
from unlearn_cli.report.directions import DIRECTIONS, HIGHER, LOWER, RETRAIN, TARGET, Direction
from unlearn_cli.report.markdown import format_cell, report_markdown


def sections_of(chain: Chain, evaluations):
    return summarize([read_record(chain.ws, evaluation) for evaluation in evaluations])


def two_seed_setting(chain: Chain, finetune_fa=(80.0, 86.0), retrain_fa=(90.0, 91.0), **forget_kw):
    """Pretrain seeds 0 and 1, each with a random-10 % forget set, a retrain and a finetune."""
    evaluations = []
    for seed, (ft, rt) in enumerate(zip(finetune_fa, retrain_fa)):
        model = chain.model(seed=seed)
        forget = chain.forget(model, **forget_kw)
        retrain = chain.unlearned(model, forget, method="retrain", wall_seconds=30.0 + seed)
        finetune = chain.unlearned(model, forget, method="finetune", wall_seconds=2.0 + 2 * seed)
        evaluations.append(chain.evaluation(retrain, forget, {"FA": rt, "TA": 95.0}))
        evaluations.append(chain.evaluation(finetune, forget, {"FA": ft, "TA": 93.0 + seed, "avg_gap": 4.0 + seed},
                                            reference=retrain))
    return evaluations


def test_mean_and_std_equal_a_hand_computation(chain):
    [section] = sections_of(chain, two_seed_setting(chain))
    finetune = section.row("finetune")
    assert len(finetune.runs) == 2
    # FA 80 and 86: mean 83, sample std sqrt(((80-83)² + (86-83)²) / (2-1)) = sqrt(18).
    assert finetune.cells["FA"].mean == pytest.approx(83.0)
    assert finetune.cells["FA"].std == pytest.approx(math.sqrt(18.0))
    assert finetune.cells["FA"].n == 2
    assert finetune.cells["TA"].mean == pytest.approx(93.5)
    assert finetune.cells["TA"].std == pytest.approx(math.sqrt(0.5))
    # wall seconds come from the unlearned runs' manifests: 2 and 4.
    assert finetune.cells["wall_seconds"].mean == pytest.approx(3.0)
    assert finetune.cells["wall_seconds"].std == pytest.approx(math.sqrt(2.0))
    retrain = section.row("retrain")
    assert retrain.cells["FA"].mean == pytest.approx(90.5) and retrain.cells["FA"].std == pytest.approx(math.sqrt(0.5))
    assert format_cell(finetune.cells["FA"], "FA") == "83.00 ± 4.24"


def test_retrain_first_original_second_then_methods_by_name(chain):
    model = chain.model()
    forget = chain.forget(model)
    runs = {m: chain.unlearned(model, forget, method=m) for m in ("scrub", "badteacher", "retrain")}
    evaluations = [chain.evaluation(run, forget, {"FA": 50.0}) for run in runs.values()]
    evaluations.append(chain.evaluation(model, forget, {"FA": 100.0}))
    [section] = sections_of(chain, evaluations)
    assert [row.label for row in section.rows] == ["retrain", "original", "badteacher", "scrub"]


def test_one_seed_shows_a_dash_not_nan(chain):
    model = chain.model()
    forget = chain.forget(model)
    run = chain.unlearned(model, forget, method="finetune")
    [section] = sections_of(chain, [chain.evaluation(run, forget, {"FA": 81.25})])
    cell = section.row("finetune").cells["FA"]
    assert cell.n == 1 and math.isnan(cell.std)
    assert format_cell(cell, "FA") == "81.25 ± –"
    text = report_markdown("r", [section], {}, [])
    assert "81.25 ± –" in text and "nan" not in text.lower()


def test_a_metric_missing_from_some_runs_is_blank_or_partial_and_said(chain):
    model = chain.model()
    forget = chain.forget(model)
    a = chain.unlearned(model, forget, method="finetune", seed=0)
    b = chain.unlearned(model, forget, method="finetune", seed=1)
    c = chain.unlearned(model, forget, method="scrub")
    evaluations = [chain.evaluation(a, forget, {"FA": 80.0, "mia_loss": 52.0}),
                   chain.evaluation(b, forget, {"FA": 82.0, "mia_loss": math.nan}),
                   chain.evaluation(c, forget, {"FA": 70.0})]
    [section] = sections_of(chain, evaluations)
    finetune, scrub = section.row("finetune"), section.row("scrub")
    # NaN counts as missing: the mean is over the one finite value, and the note says so.
    assert finetune.cells["mia_loss"].mean == 52.0 and finetune.cells["mia_loss"].n == 1
    assert "mia_loss" not in scrub.cells
    notes = "\n".join(section.notes)
    assert "`mia_loss`: no value for scrub" in notes
    assert "finetune has a value in 1 of 2 runs" in notes
    lines = report_markdown("r", [section], {}, []).splitlines()
    header = next(line for line in lines if line.startswith("| method")).split("|")
    row = next(line for line in lines if line.startswith("| scrub")).split("|")
    assert row[header.index(" mia_loss ")] == "  "  # a blank cell, not "nan"


SETTING_CHANGES = {
    "dataset": lambda c: (c.model(dataset="cifar10"), {}),
    "architecture": lambda c: (c.model(arch={"name": "resnet18", "width": 1.0}), {}),
    "width": lambda c: (c.model(arch={"width": 0.25}), {}),
    "forget size": lambda c: (c.model(), {"params": {"per": 1, "difficulty": "record"}}),
    "forget kind": lambda c: (c.model(), {"kind": "fraction", "params": {"fraction": 0.1, "balance": True}}),
    "hardest vs random": lambda c: (c.model(), {"params": {"per": 110, "difficulty": "record"}}),
    "manipulation": lambda c: (c.model(manipulation=c.manipulation(kind="labelswap")), {}),
    "known fraction": lambda c: (c.model(manipulation=c.manipulation(known=1.0)), {}),
}


@pytest.mark.parametrize("change", list(SETTING_CHANGES))
def test_runs_of_different_settings_are_never_merged(chain, change):
    base_model = chain.model(manipulation=chain.manipulation(known=0.5)) if "manipulation" in change or "known" in change \
        else chain.model()
    base_forget = chain.forget(base_model, name="base-forget")
    other_model, forget_kw = SETTING_CHANGES[change](chain)
    other_forget = chain.forget(other_model, name="other-forget", **forget_kw)
    evaluations = [
        chain.evaluation(chain.unlearned(base_model, base_forget, method="finetune", name="a"), base_forget,
                         {"FA": 10.0}),
        chain.evaluation(chain.unlearned(other_model, other_forget, method="finetune", name="b"), other_forget,
                         {"FA": 20.0}),
    ]
    sections = sections_of(chain, evaluations)
    assert len(sections) == 2, [s.setting for s in sections]
    assert sorted(s.row("finetune").cells["FA"].mean for s in sections) == [10.0, 20.0]
    assert len({s.setting.label for s in sections}) == 2


def test_pretrain_seeds_unlearning_seeds_and_forget_draws_are_replicates(chain):
    evaluations = []
    for pretrain_seed in (0, 1):
        model = chain.model(seed=pretrain_seed)
        for forget_seed in (0, 1):
            forget = chain.forget(model, seed=forget_seed)
            for seed in (0, 1):
                run = chain.unlearned(model, forget, method="finetune", seed=seed)
                evaluations.append(chain.evaluation(run, forget, {"FA": float(len(evaluations))}))
    [section] = sections_of(chain, evaluations)
    [row] = section.rows
    assert len(row.runs) == 8 and row.cells["FA"].mean == pytest.approx(3.5)
    assert {(r.pretrain_seed, r.forget_seed, r.seed) for r in row.runs} == {
        (p, f, s) for p in (0, 1) for f in (0, 1) for s in (0, 1)}


def test_a_hyperparameter_sweep_becomes_rows_labelled_by_what_differs(chain):
    model = chain.model()
    forget = chain.forget(model)
    evaluations = []
    for alpha in (10.0, 2.0, 100.0):
        for seed in (0, 1):
            run = chain.unlearned(model, forget, method="ssd", seed=seed, params={"alpha": alpha, "lam": 1.0})
            evaluations.append(chain.evaluation(run, forget, {"FA": alpha + seed}))
    lr = [chain.unlearned(model, forget, method="finetune", name=f"ft-{lr}",
                          training={"optimizer": {"name": "sgd", "lr": lr}, "epochs": 5, "device": d})
          for lr, d in ((0.1, "cpu"), (0.01, "cuda"))]
    evaluations += [chain.evaluation(run, forget, {"FA": 1.0}) for run in lr]
    [section] = sections_of(chain, evaluations)
    # Numeric order; the constant lam and the device (not a hyper-parameter) are left out.
    assert [row.label for row in section.rows] == [
        "finetune(lr=0.01)", "finetune(lr=0.1)", "ssd(alpha=2)", "ssd(alpha=10)", "ssd(alpha=100)"]
    assert section.row("ssd(alpha=10)").cells["FA"].mean == pytest.approx(10.5)
    assert len(section.row("ssd(alpha=10)").runs) == 2


def test_best_per_column_follows_each_metrics_direction(chain):
    model = chain.model()
    forget = chain.forget(model)
    values = {
        "retrain": {"FA": 90.0, "TA": 95.0, "mia_loss": 50.0, "avg_gap": 0.0},
        "original": {"FA": 100.0, "TA": 99.0, "mia_loss": 70.0},
        "a": {"FA": 80.0, "TA": 93.0, "mia_loss": 55.0, "avg_gap": 3.0, "kl_test": 0.1},
        "b": {"FA": 95.0, "TA": 94.0, "mia_loss": 47.0, "avg_gap": 2.0, "kl_test": 0.1},
        "c": {"FA": 60.0, "TA": 92.0, "mia_loss": 40.0, "avg_gap": 9.0},
    }
    evaluations = []
    for method, metrics in values.items():
        run = model if method == "original" else chain.unlearned(model, forget, method=method)
        evaluations.append(chain.evaluation(run, forget, metrics))
    [section] = sections_of(chain, evaluations)
    assert section.best["FA"] == ["b"]  # |95-90| = 5 beats |80-90| = 10: closest to retrain
    assert section.best["TA"] == ["b"]  # higher; the original model's 99 is not ranked
    assert section.best["mia_loss"] == ["b"]  # |47-50| = 3: closest to retrain's 50
    assert section.best["avg_gap"] == ["b"]  # lower; retrain's own 0 is not ranked
    assert "kl_test" not in section.best  # a tie between every contender marks nothing
    text = report_markdown("r", [section], {}, [])
    assert "**95.00 ± –**" in text and "**80.00" not in text


@pytest.mark.parametrize(("direction", "retrain", "expected"), [
    (Direction(HIGHER, "%"), None, [-1.0, -5.0]),
    (Direction(LOWER, "%"), None, [1.0, 5.0]),
    (Direction(RETRAIN, "%"), 4.0, [3.0, 1.0]),
    (Direction(RETRAIN, "%"), None, [None, None]),
    (Direction(TARGET, "%", target=50.0), None, [49.0, 45.0]),
])
def test_direction_scores(direction, retrain, expected):
    assert [direction.score(v, retrain) for v in (1.0, 5.0)] == expected


def test_every_registered_metric_has_a_direction():
    from unlearn_cli.metrics import value_names

    missing = [name for name in value_names() if name not in DIRECTIONS]
    assert not missing, f"add these to unlearn_cli/report/directions.py: {missing}"


def test_mixed_references_and_versions_are_said(chain):
    model = chain.model()
    forget = chain.forget(model)
    retrain = chain.unlearned(model, forget, method="retrain")
    a = chain.unlearned(model, forget, method="finetune", seed=0)
    b = chain.unlearned(model, forget, method="finetune", seed=1)
    evaluations = [chain.evaluation(retrain, forget, {"FA": 90.0}),
                   chain.evaluation(a, forget, {"FA": 80.0, "avg_gap": 2.0}, reference=retrain),
                   chain.evaluation(b, forget, {"FA": 82.0}, tool_version="0.0.9")]
    [section] = sections_of(chain, evaluations)
    notes = "\n".join(section.notes)
    assert "different references: no reference (1 run), retrain (1 run)" in notes
    assert "different unlearn versions" in notes and "0.0.9 (1 run)" in notes


def test_consistent_references_need_no_note(chain):
    [section] = sections_of(chain, two_seed_setting(chain))
    assert not any("reference" in note for note in section.notes)
    assert not any("version" in note for note in section.notes)


def test_the_same_run_evaluated_twice_is_refused(chain):
    model = chain.model()
    forget = chain.forget(model)
    run = chain.unlearned(model, forget, method="finetune")
    evaluations = [chain.evaluation(run, forget, {"FA": 80.0}),
                   chain.evaluation(run, forget, {"FA": 80.0}, name="again")]
    with pytest.raises(InputError, match="evaluated twice"):
        sections_of(chain, evaluations)
