"""The logit-scaled confidence φ that every audit attack reads.

    φ = log p_y − log(1 − p_y) = z_y − logsumexp_{j≠y} z_j

LiRA defines it from softmax probabilities (tensorflow/privacy
`research/mi_lira_2021/score.py:40-54`: max subtracted, softmax in float64, then
`log(p_y + 1e-45) − log(Σ_{j≠y} p_j + 1e-45)`), and the NeurIPS 2023 challenge copies that
(google-deepmind/unlearning_evaluation `metric.py:29-61`,
`compute_logit_scaled_confidence`). Both agree with the logit form above while neither
probability underflows; once a logit gap passes ~103 (log 1e45) their `+ 1e-45` clips φ,
and once it passes ~745 the float64 softmax itself underflows. The logit form never does,
so it is what we compute.

KLoM's margin is the same quantity written in logits already
(RoyRin/data-unlearning-bench `unlearning_bench/eval.py:42-60`, `get_margin`:
`logits[y] − logsumexp(logits with logits[y] set to −inf)`), so `margin` is this function.
"""

from __future__ import annotations

import numpy as np


def logit_scaled_confidence(logits: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """φ of the true class for every leading index of `logits`, as float64.

    `logits` is float (..., C) with C ≥ 2; `labels` holds integer class indices and must
    broadcast to `logits.shape[:-1]` (e.g. logits (models, rows, flips, C) with labels
    shaped (1, rows, 1)). Finite float32 logits (what audits keep) always give a finite φ,
    however large; float64 ones do while |z| stays below ~1e307.
    """
    logits = np.asarray(logits)
    labels = np.asarray(labels)
    if logits.ndim < 1 or logits.shape[-1] < 2:
        raise ValueError(f"logits need a class axis of at least 2 classes, got shape {logits.shape}")
    if not np.issubdtype(logits.dtype, np.floating):
        raise ValueError(f"logits must be floating point, got {logits.dtype}")
    if not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"labels must be integers, got {labels.dtype}")
    leading = logits.shape[:-1]
    try:
        labels = np.broadcast_to(labels, leading)
    except ValueError:
        raise ValueError(f"labels of shape {labels.shape} do not broadcast to logits' {leading}") from None
    num_classes = logits.shape[-1]
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        raise ValueError(f"labels must lie in [0, {num_classes}), got [{labels.min()}, {labels.max()}]")

    # float64 throughout: a float32 logit converts exactly, and the subtraction below then
    # cannot overflow (two float32 extremes differ by at most ~6.8e38 < float64's max).
    z = logits.astype(np.float64)
    true_logit = np.take_along_axis(z, labels[..., None], axis=-1)[..., 0]
    others = z.copy()
    np.put_along_axis(others, labels[..., None], -np.inf, axis=-1)
    # logsumexp over the wrong classes, shifted by their own max so exp never overflows.
    top_other = others.max(axis=-1)
    log_rest = np.log(np.exp(others - top_other[..., None]).sum(axis=-1))
    # (z_y − max) first: exact when the two are close, so −log 2 survives logits of 1e30.
    return (true_logit - top_other) - log_rest


def margin(logits: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """KLoM's margin (`unlearning_bench/eval.py:42-60`, `get_margin`): identical to φ."""
    return logit_scaled_confidence(logits, labels)
