"""What "best" may reward: forgetting judged by closeness to retrain, never a collapsed run, no
rte for the model before unlearning; the costs a report offers beside wall seconds."""

from __future__ import annotations

import json

import pytest

from tests.report.fixtures import Chain
from unlearn_cli.report import read_record, report_markdown, summarize
from unlearn_cli.report.collapse import COLLAPSE_POINTS
from unlearn_cli.steps.options import ReportOptions
from unlearn_cli.steps.report import report


def sections_of(chain: Chain):
    evaluations = [chain.ws.read("evaluation", name) for name in chain.ws.names("evaluation")]
    return summarize([read_record(chain.ws, evaluation) for evaluation in evaluations])


def one_setting(chain: Chain, values: dict[str, dict[str, float]], *, forget_kw: dict | None = None,
                wall: dict[str, float] | None = None, reference: bool = True):
    """One forget set; per method (or "original") one evaluation with `values`."""
    model = chain.model()
    forget = chain.forget(model, **(forget_kw or {}))
    retrain = None
    if "retrain" in values:
        retrain = chain.unlearned(model, forget, method="retrain", wall_seconds=(wall or {}).get("retrain", 30.0))
        chain.evaluation(retrain, forget, values["retrain"])
    for method, metrics in values.items():
        if method == "retrain":
            continue
        run = model if method == "original" else chain.unlearned(
            model, forget, method=method, wall_seconds=(wall or {}).get(method, 1.0))
        chain.evaluation(run, forget, metrics, reference=retrain if reference else None)
    [section] = sections_of(chain)
    return section


def test_mia_loss_is_judged_by_closeness_to_retrain_not_to_50(chain):
    # Class forgetting: retrain's own loss attack tells the forgotten class apart (93 %). SSD
    # that forgot nothing sits at 50 % (the class is as well fit as test), SCRUB near 93 %.
    section = one_setting(chain, {
        "retrain": {"FA": 0.0, "RA": 99.0, "TA": 95.0, "mia_loss": 93.0},
        "ssd": {"FA": 98.7, "RA": 99.5, "TA": 95.0, "mia_loss": 50.5},
        "scrub": {"FA": 2.0, "RA": 98.0, "TA": 94.0, "mia_loss": 90.0},
    }, forget_kw={"kind": "class", "params": {"target": 7}})
    assert section.best["mia_loss"] == ["scrub"]
    assert section.best["FA"] == ["scrub"]


def collapse_setting(chain: Chain):
    return one_setting(chain, {
        "retrain": {"FA": 90.0, "RA": 99.0, "TA": 95.0, "mia_entropy": 50.0},
        "finetune": {"FA": 85.0, "RA": 98.0, "TA": 93.0, "mia_entropy": 40.0},
        "neggrad": {"FA": 80.0, "RA": 97.0, "TA": 92.0, "mia_entropy": 35.0},
        # Collapsed: chance-level accuracy everywhere, so its FA and MIA land near retrain's by
        # accident, and it is the fastest.
        "random_label": {"FA": 10.5, "RA": 10.7, "TA": 10.2, "mia_entropy": 50.0},
    }, wall={"finetune": 3.0, "neggrad": 4.0, "random_label": 0.5})


def test_a_collapsed_run_is_never_best(chain):
    section = collapse_setting(chain)
    assert set(section.collapsed) == {"random_label"}
    assert section.best["wall_seconds"] == ["finetune"]
    assert section.best["mia_entropy"] == ["finetune"]
    assert all("random_label" not in labels for labels in section.best.values())


def test_a_collapsed_run_is_flagged_with_the_threshold(chain):
    section = collapse_setting(chain)
    notes = "\n".join(section.notes)
    assert "random_label collapsed" in notes
    assert "RA 10.70 % is 88.30 points below retrain's 99.00 %" in notes
    assert f"more than {COLLAPSE_POINTS:g} points" in notes
    text = report_markdown("r", [section], {}, [])
    assert "| random_label (collapsed) | 1 |" in text


@pytest.mark.slow
def test_the_collapse_flag_reaches_the_tables(chain):
    collapse_setting(chain)
    result = report(chain.ws, ReportOptions(every=True, name="r"))
    flags = {row["method"]: row["collapsed"] for row in result.rows if row["metric"] == "FA"}
    assert flags == {"retrain": False, "finetune": False, "neggrad": False, "random_label": True}
    json.dumps(result.rows)  # plain values


@pytest.mark.parametrize(("metric", "below", "collapsed"), [
    ("RA", COLLAPSE_POINTS - 0.5, False), ("RA", COLLAPSE_POINTS + 0.5, True),
    ("TA", COLLAPSE_POINTS - 0.5, False), ("TA", COLLAPSE_POINTS + 0.5, True),
])
def test_the_collapse_threshold(chain, metric, below, collapsed):
    method = {"RA": 99.0, "TA": 95.0}
    method[metric] -= below
    section = one_setting(chain, {"retrain": {"RA": 99.0, "TA": 95.0}, "finetune": method})
    assert ("finetune" in section.collapsed) is collapsed


def test_without_retrain_the_original_model_is_the_yardstick_for_collapse(chain):
    section = one_setting(chain, {"original": {"RA": 100.0, "TA": 95.0},
                                  "finetune": {"RA": 98.0, "TA": 93.0},
                                  "neggrad": {"RA": 40.0, "TA": 38.0}}, reference=False)
    assert set(section.collapsed) == {"neggrad"}
    assert "below the original model's" in "\n".join(section.notes)


def test_rte_has_no_value_for_the_original_model(chain):
    # Evaluated against a retrain, the original model's "rte" divides retrain's time by its
    # pretraining's: no unlearning took place, so it is left out, and said so.
    section = one_setting(chain, {"retrain": {"FA": 90.0},
                                  "original": {"FA": 100.0, "rte": 10.0},
                                  "finetune": {"FA": 85.0, "rte": 10.0},
                                  "neggrad": {"FA": 80.0, "rte": 7.5}})
    assert "rte" not in section.row("original").cells
    assert all("rte" not in run.values for run in section.row("original").runs)
    notes = "\n".join(section.notes)
    assert "`rte`" in notes and "original" in notes and "no unlearning run" in notes
    assert "`rte`: no value for retrain, original" not in notes  # not "not measured"


def test_steps_and_device_seconds_are_offered_as_costs(chain):
    model = chain.model()
    forget = chain.forget(model)
    for method, steps, extra in (("finetune", 120, {"device_seconds": 2.5}), ("ssd", 0, {})):
        run = chain.unlearned(model, forget, method=method, steps=steps, summary=extra)
        chain.evaluation(run, forget, {"FA": 80.0})
    [section] = sections_of(chain)
    assert section.row("finetune").cells["steps"].mean == 120
    assert section.row("ssd").cells["steps"].mean == 0
    assert section.row("finetune").cells["device_seconds"].mean == 2.5
    assert "device_seconds" not in section.row("ssd").cells
    assert section.metrics[-3:] == ["wall_seconds", "device_seconds", "steps"]
    text = report_markdown("r", [section], {}, [])
    assert "`steps`" in text and "optimiser steps" in text
