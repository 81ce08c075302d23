"""Audits in a report: one row per audit (one audited method on one forget set), read from
the audit manifest's summary (`audits/<name>/manifest.json`, docs/audits.md), beside the
evaluations' sections.

An audit's numbers are not means over seeds: each is one statistic over N models with its
95 % bootstrap interval, so they get their own table, never averaged into an evaluation's
cells.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from unlearn_cli.artifacts import Manifest
from unlearn_cli.report.directions import HIGHER, LOWER, NONE, TARGET, Direction


@dataclass(frozen=True)
class AuditMetric:
    key: str  # the column name in the CSV/JSON views
    attack: str  # the summary.json object it is read from
    field: str  # its key there; the interval is `<field>_ci`
    header: str  # the markdown/terminal column
    direction: Direction


# What a reader compares across methods: U-LiRA's headline numbers (chance, 0.5, is a
# retrain's value), the challenge's F beside the F of two sets of retrains (F_null, the score
# of "nothing to tell apart" at this N) and its final score, and KLoM's forget median.
METRICS: tuple[AuditMetric, ...] = (
    AuditMetric("ulira_balanced_accuracy", "ulira", "balanced_accuracy", "U-LiRA bal. acc.",
                Direction(TARGET, "", 0.5)),
    AuditMetric("ulira_auc", "ulira", "auc", "U-LiRA AUC", Direction(TARGET, "", 0.5)),
    AuditMetric("ulira_tpr_at_1pct_fpr", "ulira", "tpr_at_1pct_fpr", "TPR@1% FPR", Direction(TARGET, "", 0.01)),
    AuditMetric("forget_score", "epsilon", "forget_score", "F", Direction(HIGHER, "")),
    AuditMetric("forget_score_null", "epsilon", "forget_score_null", "F_null",
                Direction(NONE, "", note="information: F of retrains against retrains at this N")),
    AuditMetric("final_score", "epsilon", "final_score", "final", Direction(HIGHER, "")),
    AuditMetric("klom_forget_median", "klom", "forget_median", "KLoM forget median", Direction(LOWER, "nats")),
)

LEGEND = (
    "One row per audit: each number is one statistic over the audit's N unlearned and N retrained "
    "models (`halves`: K shadows), with its 95 % bootstrap interval in brackets; — where the audit "
    "did not run that attack. U-LiRA: 0.5 (balanced accuracy, AUC) and 0.01 (TPR at 1 % FPR) are "
    "chance, what a retrain scores. F and the final score: higher is better, read against F_null "
    "(retrains against retrains: the best an indistinguishable method can expect at this N). "
    "KLoM: lower is better; with N < 20 models a side its level is inflated (docs/audits.md), "
    "compare methods, not levels."
)


@dataclass(frozen=True)
class AuditValue:
    value: float | None
    interval: tuple[float, float] | None = None


@dataclass
class AuditRow:
    audit: str
    label: str  # the method with its preset and the settings it was given
    method: str
    dataset: str | None
    model: str | None  # the template model
    forget: str | None
    design: str
    models: int | None
    values: dict[str, AuditValue] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and math.isfinite(value) else None


def _interval(value: Any) -> tuple[float, float] | None:
    if isinstance(value, (list, tuple)) and len(value) == 2:
        low, high = (_number(v) for v in value)
        if low is not None and high is not None:
            return low, high
    return None


def method_label(config: dict[str, Any]) -> str:
    """`finetune[preset](steps=1, lr=1e-09)`: the method and every setting it was given."""
    settings = config.get("settings", {})
    method = str(config.get("method", {}).get("method") or settings.get("method") or "?")
    preset = settings.get("preset")
    given = {**(settings.get("params") or {}),
             **{key: value for key, value in (settings.get("generic") or {}).items() if value is not None}}
    label = method + (f"[{preset}]" if preset else "")
    if given:
        label += "(" + ", ".join(f"{key}={value}" for key, value in given.items()) + ")"
    if settings.get("single_original"):
        label += " single-original"
    return label


def read_audit_row(manifest: Manifest) -> AuditRow:
    config, summary = manifest.config, manifest.summary
    values = {}
    for metric in METRICS:
        attack = summary.get(metric.attack)
        if isinstance(attack, dict) and metric.field in attack:
            values[metric.key] = AuditValue(_number(attack[metric.field]),
                                            _interval(attack.get(f"{metric.field}_ci")))
    return AuditRow(audit=manifest.name, label=method_label(config),
                    method=str(config.get("method", {}).get("method", "?")), dataset=config.get("dataset"),
                    model=config.get("template"), forget=config.get("forget"),
                    design=str(config.get("design", "fixed")), models=config.get("models"), values=values,
                    warnings=[str(w) for w in summary.get("warnings", [])])


def sort_rows(rows: list[AuditRow]) -> list[AuditRow]:
    """By dataset and forget set; retrain first within one (the yardstick), then by label."""
    return sorted(rows, key=lambda r: (r.dataset or "", r.forget or "", r.design, r.method != "retrain",
                                       r.label, r.audit))


def format_value(value: AuditValue | None, *, interval: bool = True) -> str:
    if value is None or value.value is None:
        return "—"
    text = f"{value.value:.3f}"
    if interval and value.interval is not None:
        text += f" [{value.interval[0]:.3f}, {value.interval[1]:.3f}]"
    return text


def table_cells(row: AuditRow) -> list[str]:
    """The row as the markdown and terminal tables print it (after audit and label)."""
    return [row.forget or "", f"{row.design}, N = {row.models}",
            *(format_value(row.values.get(metric.key)) for metric in METRICS)]


HEADERS = ("audit", "method", "forget set", "design", *(metric.header for metric in METRICS))


def audits_markdown(rows: list[AuditRow]) -> str:
    if not rows:
        return ""
    lines = ["## Audits", "", LEGEND, "",
             "| " + " | ".join(HEADERS) + " |",
             "|" + "|".join([":---"] * 4 + ["---:"] * len(METRICS)) + "|"]
    for row in rows:
        cells = [row.audit, row.label, *table_cells(row)]
        lines.append("| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |")
    warned = [row for row in rows if row.warnings]
    if warned:
        lines += ["", "Warnings:", *[f"- {row.audit}: {warning}" for row in warned for warning in row.warnings]]
    return "\n".join(lines)


def audit_summary_rows(rows: list[AuditRow]) -> list[dict[str, Any]]:
    """One dict per (audit, statistic) with a value, in the columns of the evaluations' CSV/JSON
    view (`tables.SUMMARY_COLUMNS`): `n` is the models a side, `std` empty (an interval instead)."""
    out = []
    for row in rows:
        for metric in METRICS:
            value = row.values.get(metric.key)
            if value is None or value.value is None:
                continue
            out.append({
                "setting": f"audit {row.forget} ({row.design})", "dataset": row.dataset, "model": row.model,
                "forget": row.forget, "manipulation": None, "known": None, "method": row.label,
                "metric": metric.key, "mean": value.value, "std": None, "n": row.models, "best": False,
                "collapsed": False, "direction": metric.direction.text, "unit": metric.direction.unit,
                "audit": row.audit, "ci_low": value.interval[0] if value.interval else None,
                "ci_high": value.interval[1] if value.interval else None,
            })
    return out
