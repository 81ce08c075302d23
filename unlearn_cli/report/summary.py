"""Group runs by setting and method and reduce each group to mean ± std over its replicates.

A *setting* (dataset, model, forget set, manipulation and known fraction) is a section of the
report; runs of different settings are never averaged together. Inside a section, the runs
of one method (one hyper-parameter configuration) are replicates: they differ only in their
seeds (unlearning seed, pretraining seed, forget-set draw).
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from unlearn_cli.errors import InputError
from unlearn_cli.report.collapse import Collapse, find_collapsed
from unlearn_cli.report.costs import COSTS, NOT_FOR_THE_ORIGINAL
from unlearn_cli.report.directions import RETRAIN as GOAL_RETRAIN
from unlearn_cli.report.directions import direction_of, metric_order
from unlearn_cli.report.methods import ORIGINAL, RETRAIN, method_labels, row_sort_key
from unlearn_cli.report.runs import RunRecord, Setting

GAP_METRICS = ("avg_gap", "tow", "kl_forget", "kl_test", "rte")


@dataclass(frozen=True)
class Cell:
    mean: float
    std: float  # sample standard deviation (n − 1); NaN with a single value
    n: int  # runs with a finite value


@dataclass
class Row:
    label: str  # method, with the swept hyper-parameters: "ssd(alpha=10)"
    method: str
    runs: list[RunRecord]
    cells: dict[str, Cell]


@dataclass
class Section:
    setting: Setting
    metrics: list[str]
    rows: list[Row]
    best: dict[str, list[str]] = field(default_factory=dict)  # metric → labels of its best rows
    notes: list[str] = field(default_factory=list)
    collapsed: dict[str, Collapse] = field(default_factory=dict)  # label → why (report/collapse.py)

    def row(self, label: str) -> Row | None:
        return next((row for row in self.rows if row.label == label), None)

    @property
    def retrain(self) -> Row | None:
        return next((row for row in self.rows if row.method == RETRAIN), None)


def aggregate(values: Iterable[float]) -> Cell | None:
    """Mean and sample std of the finite values; None when there is none."""
    finite = np.array([v for v in values if v is not None and math.isfinite(v)], dtype=np.float64)
    if finite.size == 0:
        return None
    std = float(finite.std(ddof=1)) if finite.size > 1 else math.nan
    return Cell(float(finite.mean()), std, int(finite.size))


def check_unique_runs(records: list[RunRecord]) -> None:
    """Two evaluations of the same run on the same forget set would count one model twice."""
    seen: dict[tuple[str, str], str] = {}
    for record in records:
        key = (record.run, record.forget_set)
        if key in seen:
            raise InputError(
                f"run {record.run} on forget set {record.forget_set} is evaluated twice "
                f"({seen[key]} and {record.evaluation}); a report counts each run once",
                hint="pass one of the two evaluations (or delete the one you do not want)",
            )
        seen[key] = record.evaluation


def _best(rows: list[Row], metric: str, collapsed: dict[str, Collapse]) -> list[str]:
    direction = direction_of(metric)
    retrain = next((row for row in rows if row.method == RETRAIN), None)
    retrain_mean = retrain.cells[metric].mean if retrain and metric in retrain.cells else None
    scored = []
    for row in rows:
        # Retrain is the yardstick and the original model is the "before" line: neither is
        # an unlearning method competing for the mark. A collapsed run forgets by breaking
        # the model: it competes for nothing.
        if row.method in (RETRAIN, ORIGINAL) or row.label in collapsed or metric not in row.cells:
            continue
        score = direction.score(row.cells[metric].mean, retrain_mean)
        if score is not None:
            scored.append((score, row.label))
    top = min((score for score, _ in scored), default=None)
    best = [label for score, label in scored if score == top]
    # With one contender, or all of them tied, a mark would say nothing.
    return best if 1 < len(scored) and len(best) < len(scored) else []


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _counted(counter: Counter) -> str:
    return ", ".join(f"{key} ({_plural(n, 'run')})" for key, n in sorted(counter.items(), key=lambda kv: str(kv[0])))


def _notes(section: Section) -> list[str]:
    notes = []
    # Metrics blank for the same methods share one note (the gap metrics of the runs
    # evaluated without a reference, typically).
    blank_for: dict[tuple[str, ...], list[str]] = defaultdict(list)
    for metric in section.metrics:
        blank = tuple(row.label for row in section.rows if metric not in row.cells
                      and not (row.method == ORIGINAL and metric in NOT_FOR_ORIGINAL))
        if blank:
            blank_for[blank].append(metric)
    for blank, metrics in blank_for.items():
        names = ", ".join(f"`{m}`" for m in metrics)
        notes.append(f"{names}: no value for {', '.join(blank)} (blank: not measured in "
                     f"{'its' if len(blank) == 1 else 'their'} evaluations, or NaN)")
    notes += _original_note(section)
    notes += [collapse.describe(label) for label, collapse in section.collapsed.items()]
    for metric in section.metrics:
        for row in section.rows:
            cell = row.cells.get(metric)
            if cell is not None and cell.n < len(row.runs):
                notes.append(f"`{metric}`: {row.label} has a value in {cell.n} of {len(row.runs)} runs; "
                             f"its mean and std use those {cell.n}")
    runs = [run for row in section.rows for run in row.runs]
    # Retrain and the original model are usually evaluated without a reference: only the
    # unlearning methods' references must agree for their gap columns to compare.
    references = Counter(run.reference_method or "no reference" for row in section.rows
                         if row.method not in (RETRAIN, ORIGINAL) for run in row.runs)
    if len(references) > 1:
        notes.append(f"the runs were compared with different references: {_counted(references)}; "
                     f"the gap metrics ({', '.join(GAP_METRICS)}) exist only against a reference")
    elif references and next(iter(references)) not in (RETRAIN, "no reference"):
        notes.append(f"the gap metrics are measured against a {next(iter(references))} run, not a retrain")
    versions = Counter(run.tool_version for run in runs)
    if len(versions) > 1:
        notes.append(f"the evaluations were made by different unlearn versions: {_counted(versions)}; "
                     "metric definitions may differ between versions")
    if section.retrain is None and any(direction_of(m).goal == GOAL_RETRAIN for m in section.metrics):
        notes.append("no retrain run in this setting: the columns whose best value is retrain's are not marked")
    return notes


# What the original model (no unlearning run) has no value for, whatever its evaluation says.
NOT_FOR_ORIGINAL = frozenset(COSTS) | frozenset(NOT_FOR_THE_ORIGINAL)


def _original_note(section: Section) -> list[str]:
    if not any(row.method == ORIGINAL for row in section.rows):
        return []
    costs = [f"`{m}`" for m in section.metrics if m in COSTS]
    meaningless = [m for m in section.metrics if m in NOT_FOR_THE_ORIGINAL]
    if not costs and not meaningless:
        return []
    parts = [f"no cost ({', '.join(costs)})"] if costs else []
    parts += [f"no `{m}` ({NOT_FOR_THE_ORIGINAL[m]})" for m in meaningless]
    return [f"original: no unlearning run, so {' and '.join(parts)}; blank"]


def summarize(records: list[RunRecord]) -> list[Section]:
    """One Section per setting, rows ordered retrain, original, then the methods."""
    check_unique_runs(records)
    labels = method_labels(records)
    grouped: dict[Setting, dict[str, list[RunRecord]]] = defaultdict(lambda: defaultdict(list))
    for record in records:
        grouped[record.setting][labels[record.evaluation]].append(record)
    sections = []
    for setting in sorted(grouped, key=_setting_key):
        by_label = grouped[setting]
        order = sorted(by_label, key=lambda label: row_sort_key(label, by_label[label][0]))
        metrics = metric_order({m for runs in by_label.values() for r in runs for m in r.values})
        rows = []
        for label in order:
            runs = sorted(by_label[label], key=lambda r: (r.pretrain_seed or 0, r.seed or 0, r.forget_seed or 0,
                                                          r.evaluation))
            cells = {}
            for metric in metrics:
                cell = aggregate(r.values[metric] for r in runs if metric in r.values)
                if cell is not None:
                    cells[metric] = cell
            rows.append(Row(label=label, method=runs[0].method, runs=runs, cells=cells))
        section = Section(setting=setting, metrics=metrics, rows=rows, collapsed=find_collapsed(rows))
        section.best = {metric: best for metric in metrics if (best := _best(rows, metric, section.collapsed))}
        section.notes = _notes(section)
        sections.append(section)
    return sections


def _setting_key(setting: Setting) -> tuple:
    # A manipulation's sections together, its known fractions in numeric order (None, a forget
    # set that is not a known part, first); the rest by name.
    return (setting.dataset, setting.model, setting.manipulation,
            -1.0 if setting.known is None else setting.known, setting.forget)
