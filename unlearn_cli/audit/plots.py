"""An audit's plots, drawn with matplotlib's Agg canvas (no pyplot: no global figure state):
the per-row ε histogram, U-LiRA's ROC on log axes (LiRA's `plot.py` convention: the low-FPR
corner is what matters), and φ densities, IN against OUT, of the most and least vulnerable rows."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from unlearn_cli.artifacts import atomic_path
from unlearn_cli.audit.ulira import UliraAudit, roc_sweep

EPSILON_HISTOGRAM = "epsilon_histogram.png"
ROC = "roc.png"
PHI_DENSITIES = "phi_densities.png"
ROWS_PER_GROUP = 6  # the most and the least vulnerable rows drawn


def _figure(width: float, height: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(figure)
    return figure


def _save(figure, path: Path) -> None:
    with atomic_path(path) as tmp:
        figure.savefig(tmp, format="png")


def epsilon_histogram(epsilons: np.ndarray, path: Path, title: str) -> None:
    figure = _figure(6, 4)
    axes = figure.add_subplot()
    axes.hist(epsilons, bins=np.arange(0, max(float(np.max(epsilons)), 0.5) + 0.5, 0.5), color="#4c72b0")
    axes.set_xlabel("ε per forget row (0.5-wide buckets, as the challenge's points)")
    axes.set_ylabel("rows")
    axes.set_title(title)
    figure.tight_layout()
    _save(figure, path)


def roc(audit: UliraAudit, path: Path, title: str) -> None:
    scores = audit.scores
    scored = ~np.isnan(scores.scores)
    fpr, tpr, area, _ = roc_sweep(scores.scores[scored], scores.is_in[scored])
    figure = _figure(5, 5)
    axes = figure.add_subplot()
    floor = 1.0 / max(int(scored.sum()), 1)
    axes.plot(np.maximum(fpr, floor), np.maximum(tpr, floor), label=f"U-LiRA, AUC {area:.3f}")
    axes.plot([floor, 1], [floor, 1], linestyle="--", color="grey", label="chance")
    axes.set_xscale("log")
    axes.set_yscale("log")
    axes.set_xlabel("false positive rate")
    axes.set_ylabel("true positive rate")
    axes.set_title(title)
    axes.legend(loc="lower right")
    figure.tight_layout()
    _save(figure, path)


def phi_densities(audit: UliraAudit, phi_in: np.ndarray, phi_out: np.ndarray, rows: np.ndarray, path: Path) -> None:
    """Per row: φ (plain query) of the unlearned (IN) and retrained (OUT) models."""
    order = np.argsort(np.nan_to_num(audit.row_auc, nan=0.5))
    picked = list(order[::-1][:ROWS_PER_GROUP]) + list(order[:ROWS_PER_GROUP])
    figure = _figure(3 * ROWS_PER_GROUP, 6)
    for index, row in enumerate(picked):
        axes = figure.add_subplot(2, ROWS_PER_GROUP, index + 1)
        inside, outside = phi_in[:, row, 0], phi_out[:, row, 0]
        # halves: each shadow is on one side of a row only (NaN on the other)
        inside, outside = inside[~np.isnan(inside)], outside[~np.isnan(outside)]
        edges = np.histogram_bin_edges(np.concatenate([inside, outside]), bins=12)
        axes.hist(outside, bins=edges, alpha=0.6, density=True, label="retrained (OUT)", color="#55a868")
        axes.hist(inside, bins=edges, alpha=0.6, density=True, label="unlearned (IN)", color="#c44e52")
        group = "most" if index < ROWS_PER_GROUP else "least"
        axes.set_title(f"row {int(rows[row])} ({group}), AUC {audit.row_auc[row]:.2f}", fontsize=9)
        axes.set_xlabel("φ")
        if index == 0:
            axes.legend(fontsize=7)
    figure.tight_layout()
    _save(figure, path)
