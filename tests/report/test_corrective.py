"""The corrective setting as a sweep makes it: one manipulation with every row known, one model
pretrained on it, and each known fraction F a forget set of kind `known` of that model. The
report's sections, labels and figure follow the forget set's F, not the manipulation's."""

from __future__ import annotations

import pytest
from matplotlib.figure import Figure

from tests.report.fixtures import Chain, corrective_sweep
from unlearn_cli.report import plan_plots, read_record, report_markdown, summarize

FRACTIONS = (0.1, 0.5, 1.0)
THREE_METHODS = (("finetune", {}, None, {}), ("ssd", {"alpha": 10.0}, None, {}), ("scrub", {}, None, {}))


def sections_of(chain: Chain):
    evaluations = [chain.ws.read("evaluation", name) for name in chain.ws.names("evaluation")]
    return summarize([read_record(chain.ws, evaluation) for evaluation in evaluations])


def corrective_lines(fig: Figure) -> dict[str, dict[str, tuple[list[float], list[float]]]]:
    """panel title → line label → (x, y) of what a corrective figure drew."""
    panels = {}
    for ax in fig.axes:
        if not ax.get_title():
            continue
        lines = {}
        for container in ax.containers:
            data_line = container.lines[0]
            lines[container.get_label()] = (list(data_line.get_xdata()), list(data_line.get_ydata()))
        panels[ax.get_title()] = lines
    return panels


def test_each_section_is_one_known_fraction_of_the_forget_set(chain):
    corrective_sweep(chain, fractions=FRACTIONS, methods=THREE_METHODS)
    sections = sections_of(chain)
    assert sorted(s.setting.known for s in sections) == sorted(FRACTIONS)
    for section in sections:
        fraction = section.setting.known
        # acc_corr = 40 + 50·F + i + seed: finetune (i = 0) over seeds 0 and 1.
        assert section.row("finetune").cells["acc_corr"].mean == pytest.approx(40 + 50 * fraction + 0.5)
        label = section.setting.label
        assert f"known fraction {fraction:g} of the manipulated rows" in label
        # The manipulation was made with every row known: that 1.0 is not the setting's fraction.
        assert "known=1" not in label and "known(fraction" not in label


def test_markdown_headers_name_the_forget_sets_fraction(chain):
    corrective_sweep(chain, fractions=FRACTIONS, methods=THREE_METHODS)
    text = report_markdown("r", sections_of(chain), {}, [])
    headers = [line for line in text.splitlines() if line.startswith("## ") and line[3].isdigit()]
    assert headers == [
        f"## {n}. digits · cnn(width=0.5) · forget known fraction {f:g} of the manipulated rows · "
        "poison(size=150, patch_size=3, target=0)" for n, f in enumerate(FRACTIONS, start=1)]


def test_one_corrective_figure_per_manipulation_with_the_known_fractions_on_x(chain):
    corrective_sweep(chain, fractions=FRACTIONS, methods=THREE_METHODS)
    plots = [p for p in plan_plots(sections_of(chain)) if p.filename.startswith("corrective-")]
    assert [p.filename for p in plots] == ["corrective-digits-cnn-width-0-5-poison-size-150-patch-size-3-target-0.png"]
    fig = Figure(figsize=plots[0].size_in)
    plots[0].draw(fig)
    panels = corrective_lines(fig)
    assert set(panels) == {"acc_corr", "attack_success"}
    lines = panels["acc_corr"]
    assert set(lines) == {"retrain", "original", "finetune", "ssd", "scrub"}
    for label, (x, _y) in lines.items():
        assert x == pytest.approx(list(FRACTIONS)), label  # one point per known fraction
    # One line per method, mean over seeds: finetune (i = 0) at 40 + 50·F + 0.5.
    assert lines["finetune"][1] == pytest.approx([40 + 50 * f + 0.5 for f in FRACTIONS])
    assert lines["ssd"][1] == pytest.approx([41 + 50 * f + 0.5 for f in FRACTIONS])


def test_two_manipulations_are_two_figures(chain):
    corrective_sweep(chain, fractions=(0.5, 1.0), methods=THREE_METHODS[:1], size=150)
    corrective_sweep(chain, fractions=(0.5, 1.0), methods=THREE_METHODS[:1], size=300)
    plots = [p.filename for p in plan_plots(sections_of(chain)) if p.filename.startswith("corrective-")]
    assert len(plots) == 2 and any("size-150" in p for p in plots) and any("size-300" in p for p in plots)


def test_the_old_manipulation_forget_set_joins_the_same_figure_shape(chain):
    """Before the known forget kind, the manipulation itself was the forget set, made once per
    known fraction (and a model pretrained on each): still one figure, x its known fraction."""
    for known in (0.2, 1.0):
        manipulation = chain.manipulation(known=known)
        model = chain.model(manipulation=manipulation)
        run = chain.unlearned(model, manipulation, method="finetune")
        chain.evaluation(run, manipulation, {"acc_corr": 100 * known})
    sections = sections_of(chain)
    assert [s.setting.known for s in sections] == [0.2, 1.0]
    assert "forget known fraction 0.2 of the manipulated rows" in sections[0].setting.label
    [plot] = [p for p in plan_plots(sections) if p.filename.startswith("corrective-")]
    fig = Figure(figsize=plot.size_in)
    plot.draw(fig)
    assert corrective_lines(fig)["acc_corr"]["finetune"] == ([0.2, 1.0], [20.0, 100.0])
