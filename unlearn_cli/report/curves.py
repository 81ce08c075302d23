"""`report --curves`: each run's training curve (train/history.py), one figure per setting.

One panel per method (the report's labels and colours), each run of it (seed) a line of its
epoch-mean loss against optimiser steps, and its every-N-steps losses faint behind it: how
fast a method moved, whether it diverged or was still falling when it stopped. Losses are the
method's own objective (negative for gradient ascent), so panels do not share a y axis.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import pyarrow as pa
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from unlearn_cli.report.drawing import FONT, TITLE_FONT, MethodStyle, tick_label, wrap
from unlearn_cli.report.plots import PANEL_COLUMNS, SUPTITLE_IN, Plot, figure_size, slug, unique_filename
from unlearn_cli.report.summary import Row, Section

CURVE_PANEL_IN = (3.4, 2.6)


def _curves(row: Row, histories: Mapping[str, pa.Table]) -> list[tuple[list[int], list[float], list[int], list[float]]]:
    """Per run of `row` with a history: its epoch (steps, losses) and step (steps, losses)."""
    out = []
    for run in row.runs:
        table = histories.get(run.run)
        if table is None or table.num_rows == 0:
            continue
        records = table.to_pylist()
        epochs = [(r["step"], r["loss"]) for r in records if r["scope"] == "epoch" and r["loss"] is not None]
        steps = [(r["step"], r["loss"]) for r in records if r["scope"] == "step" and r["loss"] is not None]
        out.append(([s for s, _ in epochs], [v for _, v in epochs], [s for s, _ in steps], [v for _, v in steps]))
    return out


def curve_plot(index: int, section: Section, style: MethodStyle, histories: Mapping[str, pa.Table],
               taken: set[str]) -> Plot | None:
    """The setting's curves figure, or None when none of its runs recorded one."""
    panels = [(row, curves) for row in section.rows if (curves := _curves(row, histories))]
    if not panels:
        return None
    cols = min(PANEL_COLUMNS, len(panels))
    rows = math.ceil(len(panels) / cols)
    size = figure_size(CURVE_PANEL_IN[0] * cols, CURVE_PANEL_IN[1] * rows + SUPTITLE_IN)

    def draw(fig: Figure) -> None:
        axes = fig.subplots(rows, cols, squeeze=False)
        for i, (ax, (row, curves)) in enumerate(zip(axes.flat, panels)):
            color = style.color(row)
            for epoch_steps, epoch_losses, step_steps, step_losses in curves:
                if step_steps:
                    ax.plot(step_steps, step_losses, color=color, alpha=0.25, linewidth=0.8)
                ax.plot(epoch_steps, epoch_losses, color=color, marker=style.marker(row), markersize=3,
                        linewidth=1.4)
            ax.set_title(wrap(tick_label(section, row.label), CURVE_PANEL_IN[0], TITLE_FONT), fontsize=TITLE_FONT)
            ax.tick_params(labelsize=FONT)
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # steps are whole
            ax.grid(True, alpha=0.3)
            if i + cols >= len(panels):  # no panel below it: the last row, or above an empty slot
                ax.set_xlabel("optimiser step", fontsize=FONT)
            if i % cols == 0:
                ax.set_ylabel("training loss", fontsize=FONT)
        for ax in list(axes.flat)[len(panels):]:
            ax.set_visible(False)
        fig.suptitle(wrap(f"Training curves: {section.setting.label}\none line per seed: epoch-mean loss "
                          "(faint: every N steps)", size[0], 10), fontsize=10)

    return Plot(unique_filename(f"curves-{slug(section.setting.label)}.png", taken), size, draw, index)


def plan_curve_plots(sections: list[Section], histories: Mapping[str, pa.Table], taken: set[str]) -> list[Plot]:
    style = MethodStyle(sections)
    return [plot for index, section in enumerate(sections)
            if (plot := curve_plot(index, section, style, histories, taken)) is not None]
