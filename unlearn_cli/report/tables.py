"""The report's numbers as data: one long table (summary.parquet) and its CSV/JSON views.

summary.parquet holds two kinds of row, told apart by `level`:
- "summary": one per (setting, method, metric): mean, std (null with one run), n, best;
  `collapsed` (both levels) flags a method whose RA or TA fell far below retrain's;
- "run": one per (evaluation, metric): the value each replicate contributed, with its seeds.
The setting columns (dataset, model, forget, manipulation, known) are on both, so a reader
can filter either level the same way.
- "audit": one per (audit, statistic) (report/audits.py): `mean` is the statistic itself,
  `ci_low`/`ci_high` its 95 % bootstrap interval, `n` the models a side, `audit` its name.
"""

from __future__ import annotations

import csv
import io
import math
from typing import Any

import pyarrow as pa

from unlearn_cli.report.audits import AuditRow, audit_summary_rows
from unlearn_cli.report.directions import direction_of
from unlearn_cli.report.summary import Section

SUMMARY_COLUMNS = ("setting", "dataset", "model", "forget", "manipulation", "known", "method", "metric",
                   "mean", "std", "n", "best", "collapsed", "direction", "unit", "audit", "ci_low", "ci_high")

SCHEMA = pa.schema([
    ("level", pa.string()),
    ("setting", pa.string()),
    ("dataset", pa.string()),
    ("model", pa.string()),
    ("forget", pa.string()),
    ("manipulation", pa.string()),
    ("known", pa.float64()),
    ("method", pa.string()),
    ("base_method", pa.string()),
    ("metric", pa.string()),
    ("direction", pa.string()),
    ("unit", pa.string()),
    ("mean", pa.float64()),
    ("std", pa.float64()),
    ("n", pa.int64()),
    ("best", pa.bool_()),
    ("collapsed", pa.bool_()),
    ("value", pa.float64()),
    ("evaluation", pa.string()),
    ("run", pa.string()),
    ("forget_set", pa.string()),
    ("seed", pa.int64()),
    ("pretrain_seed", pa.int64()),
    ("forget_seed", pa.int64()),
    ("reference", pa.string()),
    ("tool_version", pa.string()),
    ("audit", pa.string()),
    ("ci_low", pa.float64()),
    ("ci_high", pa.float64()),
])


def _none_if_nan(value: float) -> float | None:
    return None if math.isnan(value) else value


def summary_rows(sections: list[Section]) -> list[dict[str, Any]]:
    """One dict per (setting, method, metric) with a value: the CSV/JSON view."""
    rows = []
    for section in sections:
        s = section.setting
        for row in section.rows:
            for metric in section.metrics:
                cell = row.cells.get(metric)
                if cell is None:
                    continue
                direction = direction_of(metric)
                rows.append({
                    "setting": s.label, "dataset": s.dataset, "model": s.model, "forget": s.forget,
                    "manipulation": s.manipulation or None, "known": s.known,
                    "method": row.label, "metric": metric, "mean": cell.mean, "std": _none_if_nan(cell.std),
                    "n": cell.n, "best": row.label in section.best.get(metric, ()),
                    "collapsed": row.label in section.collapsed,
                    "direction": direction.text, "unit": direction.unit,
                    "audit": None, "ci_low": None, "ci_high": None,
                })
    return rows


def long_table(sections: list[Section], audits: list[AuditRow] | None = None) -> pa.Table:
    records: list[dict[str, Any]] = [{**row, "level": "audit"} for row in audit_summary_rows(audits or [])]
    for section in sections:
        s = section.setting
        setting = {"setting": s.label, "dataset": s.dataset, "model": s.model, "forget": s.forget,
                   "manipulation": s.manipulation or None, "known": s.known}
        for row in section.rows:
            for metric in section.metrics:
                direction = direction_of(metric)
                common = {**setting, "method": row.label, "base_method": row.method, "metric": metric,
                          "direction": direction.text, "unit": direction.unit,
                          "collapsed": row.label in section.collapsed}
                cell = row.cells.get(metric)
                if cell is not None:
                    records.append({**common, "level": "summary", "mean": cell.mean,
                                    "std": _none_if_nan(cell.std), "n": cell.n,
                                    "best": row.label in section.best.get(metric, ())})
                for run in row.runs:
                    if metric not in run.values:
                        continue
                    records.append({**common, "level": "run", "value": _none_if_nan(run.values[metric]),
                                    "evaluation": run.evaluation, "run": run.run, "forget_set": run.forget_set,
                                    "seed": run.seed, "pretrain_seed": run.pretrain_seed,
                                    "forget_seed": run.forget_seed, "reference": run.reference,
                                    "tool_version": run.tool_version})
    return pa.Table.from_pylist(records, schema=SCHEMA)


def to_csv(rows: list[dict[str, Any]]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=SUMMARY_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({key: ("" if row[key] is None else row[key]) for key in SUMMARY_COLUMNS})
    return out.getvalue()
