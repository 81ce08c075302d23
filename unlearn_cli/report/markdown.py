"""summary.md: per setting, a paper-style table of mean ± std with the best value marked,
the metrics' directions once under it, and notes on anything a reader must know."""

from __future__ import annotations

import math

from unlearn_cli.report.audits import AuditRow, audits_markdown
from unlearn_cli.report.collapse import COLLAPSE_POINTS
from unlearn_cli.report.directions import direction_of
from unlearn_cli.report.methods import method_settings
from unlearn_cli.report.summary import Cell, Section

NO_STD = "–"  # a single run has no spread; never print NaN

LEGEND = (
    "Each cell is the mean ± sample standard deviation (n − 1) over a method's runs, which differ "
    f"only in their seeds; {NO_STD} where a method has a single run; n is the number of runs. "
    "**Bold** marks the best unlearning method per column, by the direction under each table: "
    "forgetting metrics by closeness to retrain's value (retrain, the yardstick, and the original "
    "model are not ranked; a column is marked only when two or more methods have a value and "
    f"not all of them tie). A method whose RA or TA is more than {COLLAPSE_POINTS:g} points below "
    "retrain's (the original model's without a retrain) is flagged *(collapsed)* and never marked: "
    "a broken model forgets trivially."
)

COLLAPSED = " (collapsed)"


def row_label(section: Section, label: str) -> str:
    """A row's label as tables print it: flagged when the run collapsed."""
    return label + COLLAPSED if label in section.collapsed else label


def format_number(value: float, unit: str) -> str:
    if math.isnan(value):
        return "NaN"
    if unit in ("%", "points"):
        return f"{value:.2f}"
    if abs(value) >= 100:
        return f"{value:.0f}"
    return f"{value:.3g}"


def format_cell(cell: Cell | None, metric: str) -> str:
    """'mean ± std', '–' for the std of one run, '' for no value."""
    if cell is None:
        return ""
    unit = direction_of(metric).unit
    std = NO_STD if math.isnan(cell.std) else format_number(cell.std, unit)
    return f"{format_number(cell.mean, unit)} ± {std}"


def _escape(text: str) -> str:
    return text.replace("|", "\\|")


def directions_line(section: Section) -> str:
    parts = []
    for metric in section.metrics:
        direction = direction_of(metric)
        unit = f" ({direction.unit})" if direction.unit else ""
        parts.append(f"`{metric}`{unit} {direction.text}")
    return "Directions: " + "; ".join(parts) + "."


def section_markdown(section: Section, number: int, plots: list[str]) -> str:
    header = ["method", "n", *section.metrics]
    lines = [f"## {number}. {_escape(section.setting.label)}", "",
             "| " + " | ".join(_escape(h) for h in header) + " |",
             "|" + "|".join([":---", "---:"] + ["---:"] * len(section.metrics)) + "|"]
    for row in section.rows:
        cells = []
        for metric in section.metrics:
            text = format_cell(row.cells.get(metric), metric)
            cells.append(f"**{text}**" if text and row.label in section.best.get(metric, ()) else text)
        lines.append("| " + " | ".join([_escape(row_label(section, row.label)), str(len(row.runs)), *cells]) + " |")
    lines += ["", directions_line(section)]
    if section.notes:
        lines += ["", "Notes:", *[f"- {note}" for note in section.notes]]
    if plots:
        lines += ["", *[f"![{name}]({name})" for name in plots]]
    return "\n".join(lines)


def methods_markdown(sections: list[Section]) -> str:
    """What each row label stands for: a label names only what differs between rows, so the
    full settings are listed once here."""
    entries = method_settings((row.label, row.runs[0]) for section in sections for row in section.rows)
    if not entries:
        return ""
    lines = ["## Methods", "",
             "Each row label is the method, its preset where the method's runs used several, and the "
             "values that differ between its rows; these are all the settings of its runs.", "",
             "| label | method | preset | settings |", "|:---|:---|:---|:---|"]
    for entry in entries:
        lines.append("| " + " | ".join(_escape(text) for text in (
            entry.label, entry.method, entry.preset or NO_STD, entry.settings or NO_STD)) + " |")
    return "\n".join(lines)


def report_markdown(name: str, sections: list[Section], plots: dict[int, list[str]],
                    extra_plots: list[str], audits: list[AuditRow] | None = None) -> str:
    """The whole summary.md. `plots` maps a section's index to its own plots; `extra_plots`
    are the figures that span several settings (corrective sweeps, over-forgetting); `audits`
    get one table after the settings (report/audits.py)."""
    audits = audits or []
    runs = sum(len(row.runs) for section in sections for row in section.rows)
    counted = (f"{len(sections)} setting{'s' if len(sections) != 1 else ''}, "
               f"{runs} evaluated run{'s' if runs != 1 else ''}")
    if audits:
        counted += f", {len(audits)} audit{'s' if len(audits) != 1 else ''}"
    parts = [f"# Report {name}", "", f"{counted}. " + LEGEND]
    for index, section in enumerate(sections):
        parts += ["", section_markdown(section, index + 1, plots.get(index, []))]
    if extra_plots:
        parts += ["", "## Across settings", "", *[f"![{name}]({name})" for name in extra_plots]]
    if audits:
        parts += ["", audits_markdown(audits)]
    methods = methods_markdown(sections)
    if methods:
        parts += ["", methods]
    return "\n".join(parts) + "\n"
