"""The report's figures (PNG, matplotlib without pyplot, so headless and thread-free):

- per setting, every metric per method beside retrain, with error bars;
- per setting with wall times and gaps, the cost/quality frontier: avg_gap against wall
  seconds (log), and against optimiser steps where the runs record them (wall time moves
  with a shared machine's load, steps do not);
- per manipulation, acc_corr and attack_success against the forget sets' known fraction, one
  line per method (the corrective paper's central figure);
- per model with a hardest-samples forget set, FA per method beside retrain's on the random
  and hardest sets (NatMU's over-forgetting picture).

Each figure is planned first (file name, size, a draw function) so the step knows every
file it will write before writing any. Sizes grow with the number of methods, so a dozen
methods get bars as tall as two do (drawing.py).
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

from unlearn_cli.artifacts import atomic_path
from unlearn_cli.report.drawing import (
    FONT,
    RETRAIN_COLOR,
    TITLE_FONT,
    MethodStyle,
    axis_label,
    bar_panel,
    bar_rows_height_in,
    labels_width_in,
    legend_beside,
    legend_height_in,
    legend_width_in,
    std,
    tick_label,
    wrap,
)
from unlearn_cli.report.methods import ORIGINAL, RETRAIN
from unlearn_cli.report.summary import Row, Section

DPI = 100
PANEL_COLUMNS = 4
PANEL_WIDTH_IN = 2.8
PANEL_FRAME_IN = 1.3  # a bar panel's title and wrapped axis label
SUPTITLE_IN = 0.7
CORRECTIVE_METRICS = ("acc_corr", "attack_success")
LINE_PANEL_IN = (4.4, 4.2)  # a frontier or corrective panel
COST_AXES = (("wall_seconds", "wall-clock seconds of the unlearning run (log scale)", "log"),
             ("steps", "optimiser steps of the unlearning run", "symlog"))


def figure_size(width: float, height: float) -> tuple[float, float]:
    """Whole quarter inches: exact in binary, so the PNG is exactly the planned pixels
    (matplotlib truncates width × dpi, and 11.93 × 100 is 1192.999…)."""
    return math.ceil(width * 4) / 4, math.ceil(height * 4) / 4


@dataclass(frozen=True)
class Plot:
    filename: str
    size_in: tuple[float, float]
    draw: Callable[[Figure], None]
    section: int | None  # the section it belongs to; None for figures across settings

    @property
    def size_px(self) -> tuple[int, int]:
        return round(self.size_in[0] * DPI), round(self.size_in[1] * DPI)


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower().replace("%", "pct")).strip("-")


def _plotted_metrics(section: Section) -> list[str]:
    return [m for m in section.metrics if any(m in row.cells for row in section.rows)]


def _bar_legend_text(section: Section) -> str:
    collapsed = "; hatched: collapsed (RA or TA far below retrain's)" if section.collapsed else ""
    return f"mean ± std over seeds per method; dashed line: retrain{collapsed}"


def _metrics_plot(index: int, section: Section, style: MethodStyle, name: str) -> Plot:
    metrics = _plotted_metrics(section)
    order = [row.label for row in section.rows]
    cols = min(PANEL_COLUMNS, len(metrics))
    rows = math.ceil(len(metrics) / cols)
    labels_in = labels_width_in([tick_label(section, label) for label in order])
    size = figure_size(labels_in + PANEL_WIDTH_IN * cols, (bar_rows_height_in(len(order)) + PANEL_FRAME_IN) * rows + SUPTITLE_IN)

    def draw(fig: Figure) -> None:
        axes = fig.subplots(rows, cols, squeeze=False, sharey=True)
        for i, (ax, metric) in enumerate(zip(axes.flat, metrics)):
            bar_panel(ax, section, order, metric, style, metric, label_rows=i % cols == 0)
        for ax in list(axes.flat)[len(metrics):]:
            ax.set_visible(False)
        fig.suptitle(wrap(f"{section.setting.label}\n{_bar_legend_text(section)}", size[0], 10), fontsize=10)

    return Plot(name, size, draw, index)


def _cost_panel(ax: Axes, section: Section, points: list[Row], style: MethodStyle, cost: str, xlabel: str,
                scale: str) -> None:
    for row in points:
        t, gap = row.cells[cost], row.cells["avg_gap"]
        spread = std(t.std)
        # A log axis cannot draw an error bar below zero: clip the lower arm.
        low = min(spread, t.mean * 0.999) if scale == "log" else spread
        ax.errorbar(t.mean, gap.mean, xerr=[[low], [spread]], yerr=std(gap.std), fmt=style.marker(row),
                    color=style.color(row), capsize=3, markersize=8, label=tick_label(section, row.label))
    retrain = section.retrain
    if retrain is not None and cost in retrain.cells:
        t = retrain.cells[cost].mean
        ax.axvline(t, color=RETRAIN_COLOR, linestyle="--", linewidth=1, label="retrain")
    if scale == "symlog":
        ax.set_xscale("symlog", linthresh=1)  # 0 steps (no training loop) stays on the axis
    else:
        ax.set_xscale(scale)
        ax.xaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
    # Plain numbers (2, 5, 10, 20), and no labels on the minor ticks, which would collide.
    ax.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_ylim(bottom=0)  # a gap's scale starts at 0 (= retrain's own numbers)
    ax.set_xlabel(f"{xlabel}; lower = cheaper", fontsize=FONT + 1)
    ax.set_title(cost, fontsize=TITLE_FONT)
    ax.tick_params(labelsize=FONT)
    ax.grid(True, which="both", alpha=0.3)


def _frontier_plot(index: int, section: Section, style: MethodStyle, name: str) -> Plot | None:
    panels = []
    for cost, xlabel, scale in COST_AXES:
        points = [row for row in section.rows if cost in row.cells and "avg_gap" in row.cells]
        # Steps all alike (or all 0) would put every point on one vertical line: no panel.
        if points and (cost != "steps" or len({row.cells[cost].mean for row in points}) > 1):
            panels.append((cost, xlabel, scale, points))
    if not panels or panels[0][0] != "wall_seconds":
        return None
    labels = {tick_label(section, row.label) for _, _, _, points in panels for row in points} | {"retrain"}
    size = figure_size(LINE_PANEL_IN[0] * len(panels) + legend_width_in(sorted(labels)),
                 max(LINE_PANEL_IN[1], legend_height_in(len(labels)) + SUPTITLE_IN) + SUPTITLE_IN)

    def draw(fig: Figure) -> None:
        axes = fig.subplots(1, len(panels), squeeze=False, sharey=True)[0]
        for ax, (cost, xlabel, scale, points) in zip(axes, panels):
            _cost_panel(ax, section, points, style, cost, xlabel, scale)
        axes[0].set_ylabel(axis_label("avg_gap", 60), fontsize=FONT + 1)
        legend_beside(fig, axes)
        fig.suptitle(wrap(f"Cost vs. quality: {section.setting.label}\nmean ± std over seeds", size[0], 10),
                     fontsize=10)

    return Plot(name, size, draw, index)


def _corrective_lines(ax: Axes, members: list[Section], metric: str, style: MethodStyle) -> None:
    lines: dict[str, list[tuple[float, float, float, Row]]] = defaultdict(list)
    for section in members:
        for row in section.rows:
            if metric in row.cells:
                cell = row.cells[metric]
                lines[row.label].append((section.setting.known, cell.mean, std(cell.std), row))
    for label, pts in lines.items():
        row = pts[0][3]
        ax.errorbar([p[0] for p in pts], [p[1] for p in pts], yerr=[p[2] for p in pts], marker=style.marker(row),
                    capsize=3, color=style.color(row), label=label, alpha=0.85, markersize=5,
                    linestyle="--" if row.method in (RETRAIN, ORIGINAL) else "-")
    fractions = [section.setting.known for section in members]
    ax.set_xticks(fractions, [f"{f:g}" for f in fractions])
    ax.set_xlabel("known fraction of the manipulated rows\n(the forget set given to the unlearner)", fontsize=FONT + 1)
    ax.set_ylabel(axis_label(metric, 50), fontsize=FONT + 1)
    ax.set_title(metric, fontsize=TITLE_FONT + 1)
    ax.tick_params(labelsize=FONT)
    ax.grid(True, alpha=0.3)


def _corrective_plots(sections: list[Section], style: MethodStyle, taken: set[str]) -> list[Plot]:
    """One figure per manipulation: x the forget sets' known fractions, one line per method
    (the corrective repo's logs/visualize.py plots acc_corr against the deletion fraction)."""
    families: dict[tuple, list[Section]] = defaultdict(list)
    for section in sections:
        if section.setting.is_corrective:
            families[section.setting.corrective_family].append(section)
    plots = []
    for family, members in families.items():
        metrics = [m for m in CORRECTIVE_METRICS if any(m in r.cells for s in members for r in s.rows)]
        if not metrics:
            continue
        members = sorted(members, key=lambda s: s.setting.known)
        dataset, model, manipulation = family
        labels = sorted({row.label for s in members for row in s.rows})
        size = figure_size(LINE_PANEL_IN[0] * len(metrics) + legend_width_in(labels),
                     max(LINE_PANEL_IN[1], legend_height_in(len(labels)) + SUPTITLE_IN) + SUPTITLE_IN)

        def draw(fig: Figure, members: list[Section] = members, metrics: list[str] = metrics,
                 title: str = f"{dataset} · {model} · {manipulation}", width: float = size[0]) -> None:
            axes = fig.subplots(1, len(metrics), squeeze=False)[0]
            for ax, metric in zip(axes, metrics):
                _corrective_lines(ax, members, metric, style)
            legend_beside(fig, axes)
            fig.suptitle(wrap(f"Corrective unlearning: {title}\nmean ± std over seeds per method", width, 10),
                         fontsize=10)

        name = unique_filename(f"corrective-{slug(f'{dataset}-{model}-{manipulation}')}.png", taken)
        plots.append(Plot(name, size, draw, None))
    return plots


def _overforgetting_plots(sections: list[Section], style: MethodStyle, taken: set[str]) -> list[Plot]:
    groups: dict[tuple, list[Section]] = defaultdict(list)
    for section in sections:
        s = section.setting
        if s.forget_family in ("random", "hardest"):
            groups[(s.dataset, s.model, s.manipulation, s.known)].append(section)
    plots = []
    for (dataset, model, manipulation, known), members in groups.items():
        has_fa = [s for s in members if any("FA" in row.cells for row in s.rows)]
        if not any(s.setting.forget_family == "hardest" for s in has_fa):
            continue
        panels = sorted(has_fa, key=lambda s: (s.setting.forget_family != "random", s.setting.forget))
        known_text = "" if known is None else f"known={known:g}"
        context = " · ".join(p for p in (dataset, model, manipulation, known_text) if p)
        # Every panel lists the same methods in the same order, so one label column serves all.
        first = {}
        for section in panels:
            for row in section.rows:
                first.setdefault(row.label, (section, row))
        order = list(first)
        labels_in = labels_width_in([tick_label(section, label) for label, (section, _) in first.items()])
        size = figure_size(labels_in + (PANEL_WIDTH_IN + 0.6) * len(panels),
                     bar_rows_height_in(len(order)) + PANEL_FRAME_IN + SUPTITLE_IN)

        def draw(fig: Figure, panels: list[Section] = panels, context: str = context, order: list[str] = order,
                 width: float = size[0]) -> None:
            axes = fig.subplots(1, len(panels), squeeze=False, sharex=True, sharey=True)[0]
            for i, (ax, section) in enumerate(zip(axes, panels)):
                retrain = section.retrain
                value = f"\n(retrain FA {retrain.cells['FA'].mean:.1f} %)" if retrain and "FA" in retrain.cells else ""
                bar_panel(ax, section, order, "FA", style, f"forget {section.setting.forget}{value}", label_rows=i == 0)
            collapsed = any(section.collapsed for section in panels)
            fig.suptitle(wrap(f"Over-forgetting: FA per method beside retrain's ({context})\n"
                              "mean ± std over seeds; left of the dashed line = forgot more than retraining"
                              + ("; hatched: collapsed" if collapsed else ""), width, 10), fontsize=10)

        name = unique_filename(f"overforgetting-{slug(context)}.png", taken)
        plots.append(Plot(name, size, draw, None))
    return plots


def unique_filename(name: str, taken: set[str]) -> str:
    stem, suffix = name[:-4], name[-4:]
    candidate, i = name, 2
    while candidate in taken:
        candidate, i = f"{stem}-{i}{suffix}", i + 1
    taken.add(candidate)
    return candidate


def plan_plots(sections: list[Section]) -> list[Plot]:
    style = MethodStyle(sections)
    taken: set[str] = set()
    plots: list[Plot] = []
    for index, section in enumerate(sections):
        base = slug(section.setting.label)
        if _plotted_metrics(section):
            plots.append(_metrics_plot(index, section, style, unique_filename(f"metrics-{base}.png", taken)))
        frontier = _frontier_plot(index, section, style, f"frontier-{base}.png")
        if frontier is not None:
            plots.append(Plot(unique_filename(frontier.filename, taken), frontier.size_in, frontier.draw, index))
    plots += _corrective_plots(sections, style, taken)
    plots += _overforgetting_plots(sections, style, taken)
    return plots


def save_plot(plot: Plot, path: Path) -> None:
    """Draw and write one PNG atomically, at exactly its planned size (no tight bbox)."""
    fig = Figure(figsize=plot.size_in, dpi=DPI, layout="constrained")
    plot.draw(fig)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=DPI)
