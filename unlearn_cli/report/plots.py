"""The report's figures (PNG, matplotlib without pyplot, so headless and thread-free):

- per setting, every metric per method beside retrain, with error bars;
- per setting with wall times and gaps, wall seconds (log) against avg_gap: the cost/quality
  frontier;
- per manipulation, acc_corr and attack_success against the forget sets' known fraction, one
  line per method (the corrective paper's central figure);
- per model with a hardest-samples forget set, FA per method beside retrain's on the random
  and hardest sets (NatMU's over-forgetting picture).

Each figure is planned first (file name, size, a draw function) so the step knows every
file it will write before writing any.
"""

from __future__ import annotations

import math
import re
import textwrap
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from matplotlib.axes import Axes
from matplotlib.figure import Figure

from unlearn_cli.artifacts import atomic_path
from unlearn_cli.report.directions import direction_of
from unlearn_cli.report.methods import ORIGINAL, RETRAIN
from unlearn_cli.report.summary import Row, Section

DPI = 100
PANEL_COLUMNS = 4
RETRAIN_COLOR = "black"
ORIGINAL_COLOR = "0.65"
PALETTE = ("tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple", "tab:brown", "tab:pink",
           "tab:olive", "tab:cyan", "navy", "darkgoldenrod", "teal", "crimson", "slategray")
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "<", ">", "h")
CORRECTIVE_METRICS = ("acc_corr", "attack_success")
FRONTIER_SIZE = (7.5, 5.0)


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


class _Colors:
    """One colour (and, for lines and points, one marker) per method label across every
    figure of a report, so coinciding lines stay tellable apart."""

    def __init__(self, sections: list[Section]) -> None:
        labels = sorted({row.label for s in sections for row in s.rows if row.method not in (RETRAIN, ORIGINAL)})
        self._colors = {label: PALETTE[i % len(PALETTE)] for i, label in enumerate(labels)}
        self._markers = {label: MARKERS[(i + 1) % len(MARKERS)] for i, label in enumerate(labels)}

    def marker(self, row: Row) -> str:
        return self._markers.get(row.label, MARKERS[0])

    def __call__(self, row: Row) -> str:
        if row.method == RETRAIN:
            return RETRAIN_COLOR
        if row.method == ORIGINAL:
            return ORIGINAL_COLOR
        return self._colors[row.label]


def _axis_label(metric: str, width: int = 44) -> str:
    """The metric, its unit and its direction, wrapped to fit beside a small panel."""
    return textwrap.fill(direction_of(metric).axis_label(metric), width)


def _wrap(text: str, inches: float, fontsize: float) -> str:
    """Wrap a title to the figure's width (about 0.6 em per character), each line apart."""
    width = max(20, int(inches * 72 / (0.6 * fontsize)))
    return "\n".join(textwrap.fill(line, width) for line in text.splitlines())


def _std(value: float) -> float:
    return 0.0 if math.isnan(value) else value


def _retrain_line(ax: Axes, section: Section, metric: str, horizontal: bool = True) -> None:
    retrain = section.retrain
    if retrain is not None and metric in retrain.cells:
        mean = retrain.cells[metric].mean
        (ax.axhline if horizontal else ax.axvline)(mean, color=RETRAIN_COLOR, linestyle="--", linewidth=1,
                                                   label=f"retrain {mean:.3g}")


def _bars(ax: Axes, section: Section, metric: str, colors: _Colors, title: str) -> None:
    """One bar per method (mean, error bar = std over seeds), retrain's value as a line."""
    labels = [row.label for row in section.rows]
    for x, row in enumerate(section.rows):
        cell = row.cells.get(metric)
        if cell is None:
            ax.text(x, 0, "n/a", ha="center", va="bottom", fontsize=7, color="0.4")
            continue
        ax.bar(x, cell.mean, yerr=_std(cell.std), color=colors(row), capsize=3, width=0.7,
               edgecolor="black", linewidth=0.5)
    _retrain_line(ax, section, metric)
    ax.set_xticks(range(len(labels)), labels, rotation=35, ha="right", fontsize=7)
    ax.set_title(title, fontsize=9)
    ax.set_ylabel(_axis_label(metric), fontsize=7)
    ax.tick_params(axis="y", labelsize=7)
    ax.set_xlabel("method", fontsize=7)


def _plotted_metrics(section: Section) -> list[str]:
    return [m for m in section.metrics if any(m in row.cells for row in section.rows)]


def _metrics_plot(index: int, section: Section, colors: _Colors, name: str) -> Plot:
    metrics = _plotted_metrics(section)
    cols = min(PANEL_COLUMNS, len(metrics))
    rows = math.ceil(len(metrics) / cols)
    size = (3.4 * cols, 3.0 * rows + 0.7)

    def draw(fig: Figure) -> None:
        axes = fig.subplots(rows, cols, squeeze=False)
        for ax, metric in zip(axes.flat, metrics):
            _bars(ax, section, metric, colors, metric)
        for ax in list(axes.flat)[len(metrics):]:
            ax.set_visible(False)
        fig.suptitle(_wrap(f"{section.setting.label}\nmean ± std over seeds per method; dashed line: retrain",
                           size[0], 11), fontsize=11)

    return Plot(name, size, draw, index)


def _frontier_plot(index: int, section: Section, colors: _Colors, name: str) -> Plot | None:
    points = [row for row in section.rows if "wall_seconds" in row.cells and "avg_gap" in row.cells]
    if not points:
        return None

    def draw(fig: Figure) -> None:
        ax = fig.subplots()
        for row in points:
            t, gap = row.cells["wall_seconds"], row.cells["avg_gap"]
            # A log axis cannot draw an error bar below zero: clip the lower arm.
            low = min(_std(t.std), t.mean * 0.999)
            ax.errorbar(t.mean, gap.mean, xerr=[[low], [_std(t.std)]], yerr=_std(gap.std), fmt=colors.marker(row),
                        color=colors(row), capsize=3, markersize=7, label=row.label)
        retrain = section.retrain
        if retrain is not None and "wall_seconds" in retrain.cells:
            t = retrain.cells["wall_seconds"].mean
            ax.axvline(t, color=RETRAIN_COLOR, linestyle="--", linewidth=1, label=f"retrain {t:.3g} s")
        ax.set_xscale("log")
        ax.set_ylim(bottom=0)  # a gap's scale starts at 0 (= retrain's own numbers)
        ax.set_xlabel("wall-clock seconds of the unlearning run (log scale; lower = cheaper)", fontsize=9)
        ax.set_ylabel(_axis_label("avg_gap", 60), fontsize=9)
        ax.set_title(_wrap(f"Cost vs. quality: {section.setting.label}", FRONTIER_SIZE[0], 10), fontsize=10)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7, loc="best")

    return Plot(name, FRONTIER_SIZE, draw, index)


def _corrective_plots(sections: list[Section], colors: _Colors, taken: set[str]) -> list[Plot]:
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

        def draw(fig: Figure, members: list[Section] = members, metrics: list[str] = metrics,
                 title: str = f"{dataset} · {model} · {manipulation}") -> None:
            axes = fig.subplots(1, len(metrics), squeeze=False)[0]
            fractions = [section.setting.known for section in members]
            for ax, metric in zip(axes, metrics):
                lines: dict[str, list[tuple[float, float, float, Row]]] = defaultdict(list)
                for section in members:
                    for row in section.rows:
                        if metric in row.cells:
                            cell = row.cells[metric]
                            lines[row.label].append((section.setting.known, cell.mean, _std(cell.std), row))
                for label, pts in lines.items():
                    row = pts[0][3]
                    ax.errorbar([p[0] for p in pts], [p[1] for p in pts], yerr=[p[2] for p in pts],
                                marker=colors.marker(row), capsize=3, color=colors(row), label=label, alpha=0.85,
                                linestyle="--" if row.method in (RETRAIN, ORIGINAL) else "-")
                ax.set_xticks(fractions, [f"{f:g}" for f in fractions])
                ax.set_xlabel("known fraction of the manipulated rows (the forget set given to the unlearner)",
                              fontsize=8)
                ax.set_ylabel(_axis_label(metric, 60), fontsize=8)
                ax.set_title(metric, fontsize=10)
                ax.grid(True, alpha=0.3)
                ax.legend(fontsize=7, loc="best")
            fig.suptitle(_wrap(f"Corrective unlearning: {title}\nmean ± std over seeds", fig.get_figwidth(), 10),
                         fontsize=10)

        name = _unique(f"corrective-{slug(f'{dataset}-{model}-{manipulation}')}.png", taken)
        plots.append(Plot(name, (6.0 * len(metrics), 4.6), draw, None))
    return plots


def _overforgetting_plots(sections: list[Section], colors: _Colors, taken: set[str]) -> list[Plot]:
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

        def draw(fig: Figure, panels: list[Section] = panels, context: str = context) -> None:
            axes = fig.subplots(1, len(panels), squeeze=False, sharey=True)[0]
            for ax, section in zip(axes, panels):
                retrain = section.retrain
                value = f" (retrain FA {retrain.cells['FA'].mean:.1f} %)" if retrain and "FA" in retrain.cells else ""
                _bars(ax, section, "FA", colors, f"forget {section.setting.forget}{value}")
            fig.suptitle(_wrap(f"Over-forgetting: FA per method beside retrain's ({context})\n"
                               "mean ± std over seeds; below the dashed line = forgot more than retraining",
                               fig.get_figwidth(), 10), fontsize=10)

        name = _unique(f"overforgetting-{slug(context)}.png", taken)
        plots.append(Plot(name, (4.4 * len(panels), 4.4), draw, None))
    return plots


def _unique(name: str, taken: set[str]) -> str:
    stem, suffix = name[:-4], name[-4:]
    candidate, i = name, 2
    while candidate in taken:
        candidate, i = f"{stem}-{i}{suffix}", i + 1
    taken.add(candidate)
    return candidate


def plan_plots(sections: list[Section]) -> list[Plot]:
    colors = _Colors(sections)
    taken: set[str] = set()
    plots: list[Plot] = []
    for index, section in enumerate(sections):
        base = slug(section.setting.label)
        if _plotted_metrics(section):
            plots.append(_metrics_plot(index, section, colors, _unique(f"metrics-{base}.png", taken)))
        frontier = _frontier_plot(index, section, colors, f"frontier-{base}.png")
        if frontier is not None:
            plots.append(Plot(_unique(frontier.filename, taken), frontier.size_in, frontier.draw, index))
    plots += _corrective_plots(sections, colors, taken)
    plots += _overforgetting_plots(sections, colors, taken)
    return plots


def save_plot(plot: Plot, path: Path) -> None:
    """Draw and write one PNG atomically, at exactly its planned size (no tight bbox)."""
    fig = Figure(figsize=plot.size_in, dpi=DPI, layout="constrained")
    plot.draw(fig)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=DPI)
