"""KLoM: per row, the KL divergence between the margins of retrained and of unlearned models.

As RoyRin/data-unlearning-bench `unlearning_bench/eval.py` (commit eb261f9; line numbers
below are that file's). The margin is φ (`phi.py`; eval.py:42-60, `get_margin`). Per row,
both sets of margins are clipped to ±100, one 20-bin histogram range spans both sets, and

    KLoM = KL(retrained ‖ unlearned)

with every empty unlearned bin raised to 1e-5 where the retrained histogram has mass
(`compute_binned_KL_div`, eval.py:80-130; scipy's `entropy` normalises both again).

The direction is easy to get backwards: `kl_from_margins(all_unlearned_margins,
all_oracle_margins)` (eval.py:133-153) computes KL(first ‖ second), but its one caller
passes the oracles first, `kl_from_margins(oracle_margins, margins)`
(`unlearning_bench/run.py:142`). So the benchmark's KLoM is KL(retrained ‖ unlearned).
"""

from __future__ import annotations

import numpy as np
from scipy import stats

from unlearn_cli.errors import InputError

BINS = 20  # eval.py:83
EMPTY_BIN = 1e-5  # eval.py:84: the floor of an empty unlearned bin where retrained has mass
CLIP = 100.0  # eval.py:85-86 and :136-137: margins beyond ±100 are clipped
MIN_MODELS = 4
SPLITS = ("forget", "retain", "test")


def klom_per_row(retrained: np.ndarray, unlearned: np.ndarray) -> np.ndarray:
    """KL(retrained ‖ unlearned) of each row's binned margins (eval.py:80-130).

    Both are margins (models, rows); the two sets may hold different numbers of models.
    A row whose retrained margins all sit on the histogram's upper edge (`np.digitize`
    leaves a value equal to the last edge out of every bin, eval.py:106-113) has an
    empty retrained histogram and KLoM NaN, as in the reference.
    """
    retrained = np.asarray(retrained, dtype=np.float64)
    unlearned = np.asarray(unlearned, dtype=np.float64)
    if retrained.ndim != 2 or unlearned.ndim != 2 or retrained.shape[1] != unlearned.shape[1]:
        raise ValueError(
            f"margins must be (models, rows) with the same rows, got {retrained.shape} and {unlearned.shape}"
        )
    for name, margins in (("retrained", retrained), ("unlearned", unlearned)):
        if margins.shape[0] < MIN_MODELS:
            raise InputError(
                f"KLoM needs at least {MIN_MODELS} {name} models, got {margins.shape[0]}",
                hint="audit with more models (--models); the benchmark uses 100",
            )
        if not np.isfinite(margins).all():
            raise InputError(
                f"some {name} models give a non-finite margin (NaN or infinite logits)",
                hint="a model diverged; retrain it or leave it out of the audit",
            )
    p_samples = np.clip(retrained, -CLIP, CLIP)
    q_samples = np.clip(unlearned, -CLIP, CLIP)
    start = np.minimum(p_samples.min(axis=0), q_samples.min(axis=0))
    end = np.maximum(p_samples.max(axis=0), q_samples.max(axis=0))
    end = np.where(start >= end, start + 1, end)  # eval.py:99-100: one value everywhere
    # One linspace over arrays of ends gives each row the same edges as eval.py:101's own call.
    edges = np.linspace(start, end, BINS + 1, axis=1)
    p_probs = _bin_probabilities(p_samples, edges)
    q_probs = _bin_probabilities(q_samples, edges)
    q_safe = np.where(p_probs > 0, np.maximum(q_probs, EMPTY_BIN), q_probs)
    with np.errstate(invalid="ignore", divide="ignore"):
        return stats.entropy(p_probs, q_safe, axis=1)


def _bin_probabilities(samples: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Each row's share of samples per bin (rows, BINS), zeros where no sample falls in a bin.

    np.digitize's index is the number of edges ≤ x (eval.py:106-107); bins 1…BINS are
    counted (eval.py:110-113), so a value equal to the last edge falls in none.
    """
    index = (samples.T[:, :, None] >= edges[:, None, :]).sum(axis=2)  # (rows, models)
    counts = (index[:, :, None] == np.arange(1, BINS + 1)).sum(axis=1)  # (rows, BINS)
    totals = counts.sum(axis=1, keepdims=True)
    return np.divide(counts, totals, out=np.zeros(counts.shape), where=totals > 0)


def klom_summary(values: np.ndarray, splits: np.ndarray) -> dict[str, dict[str, float]]:
    """Median and 95th percentile of the per-row KLoM, per split present in `splits`.

    `splits` names each row's split (one of SPLITS). Rows whose KLoM is NaN are left out
    and counted under `undefined`.
    """
    values = np.asarray(values, dtype=np.float64)
    splits = np.asarray(splits)
    if values.shape != splits.shape or values.ndim != 1:
        raise ValueError(f"need one split name per row, got {values.shape} values and {splits.shape} splits")
    unknown = set(np.unique(splits).tolist()) - set(SPLITS)
    if unknown:
        raise ValueError(f"unknown splits {sorted(unknown)}; expected some of {SPLITS}")
    summary = {}
    for split in SPLITS:
        in_split = values[splits == split]
        if in_split.size == 0:
            continue
        defined = in_split[~np.isnan(in_split)]
        summary[split] = {
            "median": float(np.median(defined)) if defined.size else float("nan"),
            "p95": float(np.percentile(defined, 95)) if defined.size else float("nan"),
            "rows": int(in_split.size),
            "undefined": int(in_split.size - defined.size),
        }
    return summary
