"""Every figure stays readable with twelve methods and three known fractions: the layout fits
(no collapsed axes), no text overlaps other text or the data, each method's bar is tall
enough to see, and a legend never covers a panel."""

from __future__ import annotations

import itertools
import warnings

import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.legend import Legend
from matplotlib.text import Text
from matplotlib.transforms import Bbox

from tests.report.fixtures import TWELVE_METHODS, Chain, corrective_sweep
from unlearn_cli.report import plan_plots, read_record, summarize
from unlearn_cli.report.curves import plan_curve_plots
from unlearn_cli.report.plots import DPI, Plot
from unlearn_cli.steps.report import run_histories

MIN_BAR_PX = 8  # a bar thinner than this cannot be told from its neighbours


def one_of_each(chain: Chain) -> dict[str, Plot]:
    """One plot of each kind (the random 10 % one where a kind has one per setting)."""
    evaluations = [chain.ws.read("evaluation", name) for name in chain.ws.names("evaluation")]
    records = [read_record(chain.ws, evaluation) for evaluation in evaluations]
    sections = summarize(records)
    planned = plan_plots(sections)
    curves = plan_curve_plots(sections, run_histories(chain.ws, records), {plot.filename for plot in planned})
    wanted = {}
    for plot in planned + curves[:1]:
        kind = plot.filename.split("-")[0]
        if kind in ("metrics", "frontier") and "random-10-pct" not in plot.filename:
            continue  # one of several alike
        assert kind not in wanted, plot.filename
        wanted[kind] = plot
    assert set(wanted) - {"curves"} == {"metrics", "frontier", "corrective", "overforgetting"}
    return wanted


@pytest.fixture(scope="module")
def few(tmp_path_factory) -> dict[str, Plot]:
    """Two methods and two known fractions (test_plots' report): a frontier of one panel."""
    from tests.report.test_plots import every_kind_of_setting
    from unlearn_cli.artifacts import Workspace

    chain = Chain(Workspace.at(tmp_path_factory.mktemp("few") / "ws"))
    every_kind_of_setting(chain)
    return one_of_each(chain)


@pytest.fixture(scope="module")
def plots(tmp_path_factory) -> dict[str, Plot]:
    """One plot of each kind over a sweep of twelve methods: a corrective sweep over three
    known fractions, and random and hardest forget sets with gaps and wall times."""
    from unlearn_cli.artifacts import Workspace

    chain = Chain(Workspace.at(tmp_path_factory.mktemp("readable") / "ws"))
    corrective_sweep(chain, seeds=(0,), history=True)
    model = chain.model()
    for per in (10, 110):
        forget = chain.forget(model, params={"per": per, "difficulty": "record"})
        retrain = chain.unlearned(model, forget, method="retrain", wall_seconds=30.0, steps=500)
        chain.evaluation(retrain, forget, {"FA": 90.0, "RA": 99.0, "TA": 95.0, "mia_loss": 60.0})
        chain.evaluation(model, forget, {"FA": 100.0, "RA": 100.0, "TA": 95.0, "mia_loss": 70.0})
        for i, (method, params, preset, training) in enumerate(TWELVE_METHODS):
            run = chain.unlearned(model, forget, method=method, params=params, preset=preset, training=training,
                                  wall_seconds=2.0 + i, steps=10 * i)
            chain.evaluation(run, forget, {"FA": 80.0 + i, "RA": 98.0 - i, "TA": 94.0 - i / 4, "mia_loss": 50.0 + i,
                                           "avg_gap": 1.0 + i / 3, "rte": 30 / (2 + i)}, reference=retrain)
    return one_of_each(chain)


def drawn(plot: Plot) -> tuple[Figure, object]:
    fig = Figure(figsize=plot.size_in, dpi=DPI, layout="constrained")
    plot.draw(fig)
    canvas = FigureCanvasAgg(fig)
    with warnings.catch_warnings():
        # "constrained_layout not applied because axes sizes collapsed to zero"
        warnings.simplefilter("error", UserWarning)
        canvas.draw()
    return fig, canvas.get_renderer()


def texts(fig: Figure, renderer) -> list[tuple[str, Bbox]]:
    """Every piece of text drawn: tick labels, axis labels, titles, legend entries."""
    tick_labels, drawn_ticks = set(), []
    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            for tick in axis.get_major_ticks() + axis.get_minor_ticks():
                tick_labels |= {id(tick.label1), id(tick.label2)}
            if ax.get_visible():
                # Only the ticks inside the view are drawn (matplotlib's own selection).
                drawn_ticks += [label for tick in axis._update_ticks() for label in (tick.label1, tick.label2)]
    candidates = [a for a in fig.findobj(Text) if id(a) not in tick_labels] + drawn_ticks
    return [(a.get_text(), a.get_window_extent(renderer)) for a in candidates
            if a.get_visible() and a.get_text().strip() and all(p.get_visible() for p in _parents(a))]


def _parents(artist):
    """The axes an artist lies in (a hidden panel hides its text)."""
    axes = getattr(artist, "axes", None)
    return [axes] if axes is not None else []


def overlap(a: Bbox, b: Bbox, slack: float = 1.0) -> bool:
    return (min(a.x1, b.x1) - max(a.x0, b.x0) > slack) and (min(a.y1, b.y1) - max(a.y0, b.y0) > slack)


KINDS = ["metrics", "frontier", "corrective", "overforgetting"]
# (report, kind): the twelve-method report also has training curves (`report --curves`).
CASES = [(report, kind) for report in ("plots", "few") for kind in KINDS] + [("plots", "curves")]


@pytest.mark.slow
@pytest.mark.parametrize("report, kind", CASES)
def test_no_text_overlaps_other_text_or_leaves_the_figure(request, report, kind):
    fig, renderer = drawn(request.getfixturevalue(report)[kind])
    width, height = fig.bbox.width, fig.bbox.height
    found = texts(fig, renderer)
    for text, box in found:
        assert box.x0 >= -1 and box.y0 >= -1 and box.x1 <= width + 1 and box.y1 <= height + 1, (kind, text)
    for (a, box_a), (b, box_b) in itertools.combinations(found, 2):
        assert not overlap(box_a, box_b), (kind, a, b)


@pytest.mark.slow
@pytest.mark.parametrize("report, kind", CASES)
def test_no_legend_covers_a_panel_or_a_title(request, report, kind):
    fig, renderer = drawn(request.getfixturevalue(report)[kind])
    legends = fig.findobj(Legend)
    titles = [(t.get_text(), t.get_window_extent(renderer)) for t in _titles(fig)
              if t.get_visible() and t.get_text().strip()]
    panels = [ax.get_window_extent(renderer) for ax in fig.axes if ax.get_visible()]
    for legend in legends:
        box = legend.get_window_extent(renderer)
        for panel in panels:
            assert not overlap(box, panel), kind
        for text, title in titles:
            assert not overlap(box, title), (kind, text)


def _titles(fig: Figure) -> list[Text]:
    """The figure's title, the panels' titles and axis labels."""
    found = [fig._suptitle] if fig._suptitle is not None else []
    for ax in fig.axes:
        found += [ax.title, ax.xaxis.label, ax.yaxis.label]
    return found


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["metrics", "overforgetting"])
def test_every_methods_bar_is_tall_enough_to_read(plots, kind):
    fig, renderer = drawn(plots[kind])
    for ax in fig.axes:
        if not ax.get_visible() or not ax.patches:
            continue
        box = ax.get_window_extent(renderer)
        rows = 14  # retrain, the original model and twelve methods
        assert min(box.width, box.height) / rows >= MIN_BAR_PX, (kind, ax.get_title(), box)


def test_the_corrective_figure_has_a_line_per_method_and_every_fraction(plots):
    fig, _ = drawn(plots["corrective"])
    panel = next(ax for ax in fig.axes if ax.get_title() == "acc_corr")
    assert len(panel.containers) == 14
    assert sorted({round(float(x), 3) for c in panel.containers for x in c.lines[0].get_xdata()}) == [0.1, 0.5, 1.0]


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["metrics", "overforgetting"])
def test_each_row_of_panels_names_every_method_once(plots, kind):
    fig, renderer = drawn(plots[kind])
    drawn_texts = [text for text, _ in texts(fig, renderer)]
    panel_rows = len({round(ax.get_position().y0, 3) for ax in fig.axes if ax.get_visible()})
    for label in ("retrain", "original", "finetune", "scrub[natmu-cifar10]", "ssd(alpha=100)"):
        assert drawn_texts.count(label) == panel_rows, (kind, label)


def test_the_curves_figure_has_a_panel_per_training_method_and_a_line_per_seed(plots):
    fig, _ = drawn(plots["curves"])
    panels = [ax for ax in fig.axes if ax.get_visible()]
    # retrain and the twelve rows but the two SSD ones (SSD does not train); finetune's
    # 0 steps (i = 0 in the fixture) leave it without a curve too.
    titles = [ax.get_title() for ax in panels]
    assert "retrain" in titles and not any(title.startswith("ssd") for title in titles)
    assert len(panels) == 10
    scrub = next(ax for ax in panels if ax.get_title().startswith("scrub[natmu"))
    epoch_line = scrub.lines[1]  # faint step losses, then the epoch means
    assert list(epoch_line.get_xdata())[-1] == 80  # scrub is i = 8: 80 steps
