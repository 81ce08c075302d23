"""The pieces every report figure is drawn with: one colour and marker per method across the
report, horizontal bar panels, a legend beside the panels, wrapped text.

Bars are horizontal so that the methods' labels read left to right in one column beside the
bars, however many methods there are: upright bars put a dozen rotated labels under each
panel, where they collide and squeeze the panels. Legends go beside the panels, never on
them, where a dozen entries would hide the data.
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Sequence

from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.transforms import blended_transform_factory

from unlearn_cli.report.directions import direction_of
from unlearn_cli.report.methods import ORIGINAL, RETRAIN
from unlearn_cli.report.summary import Row, Section

RETRAIN_COLOR = "black"
ORIGINAL_COLOR = "0.65"
PALETTE = ("tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple", "tab:brown", "tab:pink",
           "tab:olive", "tab:cyan", "navy", "darkgoldenrod", "teal", "crimson", "slategray")
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "<", ">", "h")
COLLAPSED_HATCH = "////"
COLLAPSED_TAG = " (collapsed)"

FONT = 7  # tick labels, axis labels and legends
TITLE_FONT = 9
BAR_ROW_IN = 0.2  # height of one method's bar row
CHAR_IN = 0.55 * FONT / 72  # the width of one character of a label, about
LEGEND_ROW_IN = 0.2  # one legend entry, its marker and the gap below it


class MethodStyle:
    """One colour (and, for lines and points, one marker) per method label across every
    figure of a report, so a method looks the same everywhere and coinciding lines stay
    tellable apart."""

    def __init__(self, sections: list[Section]) -> None:
        labels = sorted({row.label for s in sections for row in s.rows if row.method not in (RETRAIN, ORIGINAL)})
        self._colors = {label: PALETTE[i % len(PALETTE)] for i, label in enumerate(labels)}
        self._markers = {label: MARKERS[(i + 1) % len(MARKERS)] for i, label in enumerate(labels)}

    def marker(self, row: Row) -> str:
        return self._markers.get(row.label, MARKERS[0])

    def color(self, row: Row) -> str:
        if row.method == RETRAIN:
            return RETRAIN_COLOR
        if row.method == ORIGINAL:
            return ORIGINAL_COLOR
        return self._colors[row.label]


def axis_label(metric: str, width: int = 44) -> str:
    """The metric, its unit and its direction, wrapped to fit beside a small panel."""
    return textwrap.fill(direction_of(metric).axis_label(metric), width)


def wrap(text: str, inches: float, fontsize: float) -> str:
    """Wrap a title to a width in inches (about 0.6 em per character), each line apart."""
    width = max(20, int(inches * 72 / (0.6 * fontsize)))
    return "\n".join(textwrap.fill(line, width) for line in text.splitlines())


def std(value: float) -> float:
    return 0.0 if math.isnan(value) else value


def tick_label(section: Section, label: str) -> str:
    return label + COLLAPSED_TAG if label in section.collapsed else label


def labels_width_in(labels: Sequence[str]) -> float:
    """The room a column of method labels needs beside its panels."""
    return 0.3 + CHAR_IN * max((len(label) for label in labels), default=0)


def bar_rows_height_in(rows: int) -> float:
    return BAR_ROW_IN * max(rows, 3)


def bar_panel(ax: Axes, section: Section, order: Sequence[str], metric: str, style: MethodStyle,
              title: str, label_rows: bool) -> None:
    """One horizontal bar per method of `order` (mean, error bar = std over seeds), the first
    on top; retrain's value as a dashed line; a collapsed run hatched; "n/a" where a method
    has no value. Only the panels of the first column label the rows (`label_rows`)."""
    at_left = blended_transform_factory(ax.transAxes, ax.transData)
    for y, label in enumerate(order):
        row = section.row(label)
        cell = row.cells.get(metric) if row is not None else None
        if row is None or cell is None:
            ax.text(0.01, y, "n/a", transform=at_left, ha="left", va="center", fontsize=FONT - 1, color="0.4")
            continue
        ax.barh(y, cell.mean, xerr=std(cell.std), color=style.color(row), height=0.7, capsize=2,
                edgecolor="black", linewidth=0.5, hatch=COLLAPSED_HATCH if label in section.collapsed else None,
                error_kw={"elinewidth": 0.8})
    retrain = section.retrain
    if retrain is not None and metric in retrain.cells:
        ax.axvline(retrain.cells[metric].mean, color=RETRAIN_COLOR, linestyle="--", linewidth=1)
    ax.set_ylim(len(order) - 0.5, -0.5)
    if label_rows:
        # Panels in a row share their y axis (and so its ticks): the first sets the labels,
        # the others hide them.
        ax.set_yticks(range(len(order)), [tick_label(section, label) for label in order])
    ax.set_title(title, fontsize=TITLE_FONT)
    ax.set_xlabel(axis_label(metric, 40), fontsize=FONT)
    ax.tick_params(labelsize=FONT)
    ax.grid(True, axis="x", alpha=0.3)


def legend_beside(fig: Figure, axes: Sequence[Axes]) -> None:
    """One legend for the figure, right of its panels and centred on them (at the top it
    would meet the figure's title): every label drawn in any panel, once."""
    entries: dict[str, object] = {}
    for ax in axes:
        for handle, label in zip(*ax.get_legend_handles_labels()):
            entries.setdefault(label, handle)
    if entries:
        fig.legend(list(entries.values()), list(entries), loc="outside right center", fontsize=FONT,
                   frameon=False)


def legend_width_in(labels: Sequence[str]) -> float:
    return 0.9 + CHAR_IN * max((len(label) for label in labels), default=0)


def legend_height_in(entries: int) -> float:
    """The height a legend of `entries` lines needs, so the figure can leave it room."""
    return LEGEND_ROW_IN * entries + 0.4
