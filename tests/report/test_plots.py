"""The report's PNG plots: which ones a report draws, their size, and that they show something."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from tests.report.fixtures import Chain
from unlearn_cli.report import plan_plots, read_record, summarize
from unlearn_cli.steps.options import ReportOptions
from unlearn_cli.steps.report import report


def every_kind_of_setting(chain: Chain) -> None:
    """Random and hardest forget sets (over-forgetting), a poison sweep over the known fraction
    (corrective), wall seconds and avg_gap (frontier), two seeds each."""
    for seed in (0, 1):
        model = chain.model(seed=seed)
        for per in (10, 110):
            forget = chain.forget(model, params={"per": per, "difficulty": "record"})
            retrain = chain.unlearned(model, forget, method="retrain", wall_seconds=30.0 + seed)
            chain.evaluation(retrain, forget, {"FA": 90.0 - per / 10 + seed, "TA": 95.0})
            for method, fa, t in (("finetune", 95.0, 3.0), ("random_label", 20.0, 2.0)):
                run = chain.unlearned(model, forget, method=method, wall_seconds=t + seed)
                chain.evaluation(run, forget, {"FA": fa + seed, "TA": 93.0, "avg_gap": abs(fa - 85) / 4},
                                 reference=retrain)
    for known in (0.2, 1.0):
        manipulation = chain.manipulation(known=known)
        model = chain.model(manipulation=manipulation)
        retrain = chain.unlearned(model, manipulation, method="retrain", wall_seconds=30.0)
        chain.evaluation(retrain, manipulation, {"acc_corr": 90.0, "attack_success": 4.0})
        for method, base in (("finetune", 30.0), ("ssd", 60.0)):
            for seed in (0, 1):
                run = chain.unlearned(model, manipulation, method=method, seed=seed)
                chain.evaluation(run, manipulation, {"acc_corr": base + 30 * known + seed,
                                                     "attack_success": 80 - 70 * known - seed})


@pytest.mark.slow
def test_each_plot_is_a_non_blank_png_of_its_planned_size(chain):
    every_kind_of_setting(chain)
    result = report(chain.ws, ReportOptions(every=True, name="p"))
    sections = summarize([read_record(chain.ws, e) for e in
                          (chain.ws.read("evaluation", n) for n in chain.ws.names("evaluation"))])
    plots = plan_plots(sections)
    kinds = sorted({plot.filename.split("-")[0] for plot in plots})
    assert kinds == ["corrective", "frontier", "metrics", "overforgetting"]
    # One metrics figure per setting (2 selections + 2 known fractions), one corrective
    # figure for the sweep, one over-forgetting figure for the random/hardest pair.
    assert sum(p.filename.startswith("metrics-") for p in plots) == 4
    assert sum(p.filename.startswith("corrective-") for p in plots) == 1
    assert sum(p.filename.startswith("overforgetting-") for p in plots) == 1
    for plot in plots:
        path = result.folder / plot.filename
        with Image.open(path) as image:
            assert image.format == "PNG"
            assert image.size == plot.size_px, plot.filename
            pixels = np.asarray(image.convert("RGB"), dtype=np.int16)
        not_white = (np.abs(pixels - 255).sum(axis=2) > 30).mean()
        colours = len(np.unique(pixels.reshape(-1, 3), axis=0))
        # Axes, text and bars or lines cover a few % of the canvas and use many colours.
        assert 0.02 < not_white < 0.6, (plot.filename, not_white)
        assert colours > 20, (plot.filename, colours)
        # Data, not just axes and text (which are black and grey): coloured bars, points, lines.
        coloured = ((pixels.max(axis=2) - pixels.min(axis=2)) > 80).mean()
        assert coloured > 0.002, (plot.filename, coloured)


def test_plots_that_do_not_apply_are_not_drawn(chain):
    model = chain.model()
    forget = chain.forget(model)
    for method in ("retrain", "finetune"):
        chain.evaluation(chain.unlearned(model, forget, method=method), forget, {"FA": 90.0})
    result = report(chain.ws, ReportOptions(every=True, name="p"))
    pngs = sorted(p.name for p in result.folder.glob("*.png"))
    # No avg_gap: no frontier; no manipulation: no corrective plot; no hardest set: no
    # over-forgetting picture.
    assert len(pngs) == 1 and pngs[0].startswith("metrics-")


@pytest.mark.parametrize("label", ["digits · cnn(width=0.5) · forget random 10 %"])
def test_file_names_are_safe_slugs(label):
    from unlearn_cli.report.plots import slug

    assert slug(label) == "digits-cnn-width-0-5-forget-random-10-pct"
