"""The three attacks of an audit over its query arrays (torch-free): U-LiRA (online and fixed
variance), the challenge's ε score and KLoM, with their bootstrap intervals, warnings, the
per-row table and the long φ table. The statistics themselves are `ulira.py`, `epsilon.py`
and `klom.py`; this module decides what each reads:

- ulira: φ of the forget rows, both flips; IN = the unlearned models, OUT = the retrained ones;
  every model a held-out target (leave-one-out; leave-one-pair-out where unlearned model k and
  retrained model k come from the same original);
- epsilon: φ of the plain query only (flip 0), as the challenge; the final score's accuracy
  ratios from the queries' whole-split accuracies;
- klom: margins (= φ) of the plain query of the forget rows, the retain sample and the test
  sample, KL(retrained ‖ unlearned) per row; the median's interval by resampling rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa

from unlearn_cli.audit.bootstrap import DEFAULT_RESAMPLES, percentile_intervals
from unlearn_cli.audit.epsilon import DELTA, epsilon_audit
from unlearn_cli.audit.klom import klom_per_row, klom_summary
from unlearn_cli.audit.phi import logit_scaled_confidence
from unlearn_cli.audit.queries import AuditQueries, SideQueries
from unlearn_cli.audit.ulira import METRIC_NAMES, RECOMMENDED_SHADOWS, UliraAudit, ulira_audit


@dataclass
class AttackResults:
    summary: dict[str, Any]  # summary.json: one object per attack
    per_example: pa.Table
    phi: pa.Table
    warnings: list[str] = field(default_factory=list)
    ulira: UliraAudit | None = None
    epsilons: np.ndarray | None = None
    phi_in: np.ndarray | None = None  # (models, rows, flips), for the plots
    phi_out: np.ndarray | None = None


def _with_intervals(metrics: dict[str, float], intervals: dict[str, tuple[float, float]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for name in METRIC_NAMES:
        result[name] = metrics[name]
        result[f"{name}_ci"] = list(intervals[name])
    return result


def _ulira(phi_in: np.ndarray, phi_out: np.ndarray, seed: int, resamples: int,
           paired: bool) -> tuple[dict, UliraAudit, list[str]]:
    phi = np.concatenate([phi_in, phi_out])
    membership = np.zeros(phi.shape[:2], dtype=bool)
    membership[: len(phi_in)] = True
    # Unlearned model k and retrained model k start from original k's initial weights: they
    # are held out together (one fold per pair), or each would be scored towards its twin.
    groups = np.concatenate([np.arange(len(phi_in)), np.arange(len(phi_out))]) if paired else None
    online = ulira_audit(phi, membership, seed=seed, resamples=resamples, groups=groups)
    fixed = ulira_audit(phi, membership, fixed_variance=True, seed=seed, resamples=resamples, groups=groups)
    summary = _with_intervals(online.metrics, online.intervals)
    summary["fixed_variance"] = _with_intervals(fixed.metrics, fixed.intervals)
    summary["rows"] = int(phi.shape[1])
    summary["models_in"] = int(len(phi_in))
    summary["models_out"] = int(len(phi_out))
    summary["rows_below_recommended"] = online.scores.rows_below_recommended
    warnings = []
    if online.scores.rows_below_recommended:
        warnings.append(f"ulira: {online.scores.rows_below_recommended} of {phi.shape[1]} rows have fewer than "
                        f"{RECOMMENDED_SHADOWS} shadow models on a side (LiRA's README: ~16 give most of the gain); "
                        "read the fixed-variance numbers, or audit with more --models")
    return summary, online, warnings


def _epsilon(queries: AuditQueries, phi_in: np.ndarray, phi_out: np.ndarray, seed: int) -> tuple[dict, Any, list[str]]:
    u, r = queries.unlearned.accuracy, queries.retrained.accuracy
    accuracies = {"retain_acc_unlearned": u["retain"], "retain_acc_retrained": r["retain"],
                  "test_acc_unlearned": u["test"], "test_acc_retrained": r["test"]}
    result = epsilon_audit(phi_in[..., 0], phi_out[..., 0], seed=seed, accuracies=accuracies)
    summary = {"forget_score": result.forget_score, "forget_score_null": result.forget_score_null,
               "final_score": result.final_score, "delta": DELTA, "rows": int(phi_in.shape[1]),
               "models": int(len(phi_in)),
               "retain_accuracy_unlearned": float(np.mean(u["retain"])),
               "retain_accuracy_retrained": float(np.mean(r["retain"])),
               "test_accuracy_unlearned": float(np.mean(u["test"])),
               "test_accuracy_retrained": float(np.mean(r["test"])),
               "epsilon_median": float(np.median(result.epsilons))}
    warnings = []
    if result.forget_score_null is None:
        warnings.append(f"epsilon: F_null needs 8 retrained models or more, the audit has {len(phi_out)}")
    return summary, result, warnings


def _median_interval(values: np.ndarray, seed: int, resamples: int) -> list[float]:
    defined = values[~np.isnan(values)]
    if defined.size == 0:
        return [float("nan"), float("nan")]
    interval = percentile_intervals(lambda idx: {"median": float(np.median(defined[idx]))}, defined.size,
                                    seed=seed, resamples=resamples)["median"]
    return list(interval)


def _klom(queries: AuditQueries, phi_in: np.ndarray, phi_out: np.ndarray, seed: int,
          resamples: int) -> tuple[dict, np.ndarray]:
    u, r = queries.unlearned, queries.retrained
    retain_u = logit_scaled_confidence(u.retain_logits, queries.retain_labels[None, :])
    retain_r = logit_scaled_confidence(r.retain_logits, queries.retain_labels[None, :])
    test_u = logit_scaled_confidence(u.test_logits, queries.test_labels[None, :])
    test_r = logit_scaled_confidence(r.test_logits, queries.test_labels[None, :])
    values = {"forget": klom_per_row(phi_out[..., 0], phi_in[..., 0]),
              "retain": klom_per_row(retain_r, retain_u), "test": klom_per_row(test_r, test_u)}
    splits = np.concatenate([np.full(v.size, split) for split, v in values.items()])
    table = klom_summary(np.concatenate(list(values.values())), splits)
    summary: dict[str, Any] = {}
    for split, stats in table.items():
        summary[f"{split}_median"] = stats["median"]
        summary[f"{split}_median_ci"] = _median_interval(values[split], seed, resamples)
        summary[f"{split}_p95"] = stats["p95"]
        summary[f"{split}_rows"] = stats["rows"]
        summary[f"{split}_undefined"] = stats["undefined"]
    return summary, values["forget"]


def run_attacks(queries: AuditQueries, attacks: tuple[str, ...], *, seed: int, paired: bool,
                resamples: int = DEFAULT_RESAMPLES) -> AttackResults:
    """`paired`: unlearned model k and retrained model k share an initialisation (the fixed
    design with N originals), so U-LiRA holds them out together."""
    labels = queries.labels
    phi_in = logit_scaled_confidence(queries.unlearned.logits, labels[None, :, None])
    phi_out = logit_scaled_confidence(queries.retrained.logits, labels[None, :, None])
    summary: dict[str, Any] = {}
    warnings: list[str] = []
    rows = queries.rows.size
    per_row: dict[str, Any] = {"row": queries.rows, "label": labels}
    ulira = epsilons = None
    if "ulira" in attacks:
        summary["ulira"], ulira, notes = _ulira(phi_in, phi_out, seed, resamples, paired)
        warnings += notes
        fit = ulira.fit
        per_row.update(n_in=ulira.scores.n_in, n_out=ulira.scores.n_out,
                       mu_in=fit.mu_in.mean(axis=1), sigma_in=fit.sigma_in.mean(axis=1),
                       mu_out=fit.mu_out.mean(axis=1), sigma_out=fit.sigma_out.mean(axis=1),
                       ulira_auc=ulira.row_auc, ulira_balanced_accuracy=ulira.row_balanced_accuracy)
    if "epsilon" in attacks:
        summary["epsilon"], result, notes = _epsilon(queries, phi_in, phi_out, seed)
        warnings += notes
        epsilons = result.epsilons
        per_row.update(epsilon=result.epsilons, points=result.points)
    if "klom" in attacks:
        summary["klom"], forget_klom = _klom(queries, phi_in, phi_out, seed, resamples)
        per_row["klom"] = forget_klom
    summary["warnings"] = warnings
    per_example = pa.table({key: np.asarray(value) for key, value in per_row.items()})
    assert per_example.num_rows == rows
    return AttackResults(summary, per_example, phi_table(queries, phi_in, phi_out), warnings, ulira, epsilons,
                         phi_in, phi_out)


def phi_table(queries: AuditQueries, phi_in: np.ndarray, phi_out: np.ndarray) -> pa.Table:
    """φ in long form, one row per (role, model, row, flip): the forget rows (both flips) and
    the retain sample (plain) of every model."""
    parts = []
    for role, phi, side in (("unlearned", phi_in, queries.unlearned), ("retrained", phi_out, queries.retrained)):
        models, rows, flips = phi.shape
        model = np.repeat(np.arange(models), rows * flips)
        row = np.tile(np.repeat(queries.rows, flips), models)
        flip = np.tile(np.arange(flips), models * rows)
        parts.append((role, model, row, flip, True, True, phi.reshape(-1)))
        retain = logit_scaled_confidence(side.retain_logits, queries.retain_labels[None, :])
        count = retain.size
        parts.append((role, np.repeat(np.arange(models), retain.shape[1]), np.tile(queries.retain_rows, models),
                      np.zeros(count, dtype=np.int64), True, False, retain.reshape(-1)))
    columns: dict[str, list[np.ndarray]] = {key: [] for key in
                                            ("role", "model", "row", "flip", "in_train", "in_forget", "phi")}
    for role, model, row, flip, in_train, in_forget, phi in parts:
        size = phi.size
        # The unlearned models trained on F before unlearning it; the retrained ones never saw it.
        trained = np.full(size, in_train if (role == "unlearned" or not in_forget) else False)
        columns["role"].append(np.full(size, role))
        columns["model"].append(model.astype(np.int64))
        columns["row"].append(row.astype(np.int64))
        columns["flip"].append(flip.astype(np.int64))
        columns["in_train"].append(trained)
        columns["in_forget"].append(np.full(size, in_forget))
        columns["phi"].append(phi.astype(np.float64))
    return pa.table({key: np.concatenate(values) for key, values in columns.items()})


def run_halves_attacks(side: SideQueries, rows: np.ndarray, labels: np.ndarray, membership: np.ndarray, *,
                       seed: int, resamples: int = DEFAULT_RESAMPLES) -> AttackResults:
    """U-LiRA over K shadows (the halves design): IN where shadow k trained on the row and
    unlearned it, OUT where it never saw it; every shadow a held-out target (leave-one-out:
    no two shadows share an initialisation here)."""
    phi = logit_scaled_confidence(side.logits, labels[None, :, None])
    online = ulira_audit(phi, membership, seed=seed, resamples=resamples)
    fixed = ulira_audit(phi, membership, fixed_variance=True, seed=seed, resamples=resamples)
    summary_ulira = _with_intervals(online.metrics, online.intervals)
    summary_ulira["fixed_variance"] = _with_intervals(fixed.metrics, fixed.intervals)
    summary_ulira.update(rows=int(phi.shape[1]), models=int(len(phi)),
                         models_in_per_row=int(membership.sum(axis=0).min()),
                         rows_below_recommended=online.scores.rows_below_recommended)
    warnings = []
    if online.scores.rows_below_recommended:
        warnings.append(f"ulira: {online.scores.rows_below_recommended} of {phi.shape[1]} rows have fewer than "
                        f"{RECOMMENDED_SHADOWS} shadow models on a side (LiRA's README: ~16 give most of the gain); "
                        "read the fixed-variance numbers, or audit with more --models")
    fit = online.fit
    per_example = pa.table({"row": rows, "label": labels, "n_in": online.scores.n_in, "n_out": online.scores.n_out,
                            "mu_in": fit.mu_in.mean(axis=1), "sigma_in": fit.sigma_in.mean(axis=1),
                            "mu_out": fit.mu_out.mean(axis=1), "sigma_out": fit.sigma_out.mean(axis=1),
                            "ulira_auc": online.row_auc, "ulira_balanced_accuracy": online.row_balanced_accuracy})
    models, count, flips = phi.shape
    phi_long = pa.table({
        "role": np.full(phi.size, "shadow"),
        "model": np.repeat(np.arange(models), count * flips).astype(np.int64),
        "row": np.tile(np.repeat(rows, flips), models).astype(np.int64),
        "flip": np.tile(np.arange(flips), models * count).astype(np.int64),
        "in_train": np.repeat(membership.reshape(-1), flips),  # trained on it (then unlearned it)
        "in_forget": np.repeat(membership.reshape(-1), flips),
        "phi": phi.reshape(-1).astype(np.float64),
    })
    in_side = np.where(membership[..., None], phi, np.nan)
    out_side = np.where(~membership[..., None], phi, np.nan)
    return AttackResults({"ulira": summary_ulira, "warnings": warnings}, per_example, phi_long, warnings, online,
                         None, in_side, out_side)
