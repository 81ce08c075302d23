"""Builders of synthetic evaluation contexts: hand-made logits, no model."""

from __future__ import annotations

import numpy as np

from unlearn_cli.forget.manipulations import Manipulation
from unlearn_cli.metrics import EvalContext, Outputs

NUM_CLASSES = 4


def logits_for(predictions: list[int] | np.ndarray, num_classes: int = NUM_CLASSES,
               margin: float = 5.0) -> np.ndarray:
    """Logits whose argmax is `predictions` (0 elsewhere, `margin` at the prediction)."""
    preds = np.asarray(predictions, dtype=np.int64)
    logits = np.zeros((len(preds), num_classes), dtype=np.float32)
    logits[np.arange(len(preds)), preds] = margin
    return logits


def outputs(predictions: list[int], labels: list[int],
            num_classes: int = NUM_CLASSES) -> Outputs:
    return Outputs(logits_for(predictions, num_classes), np.asarray(labels, dtype=np.int64))


def random_outputs(rng: np.random.Generator, n: int, confidence: float, noise: float = 2.0,
                   num_classes: int = 10) -> Outputs:
    """Outputs with random labels whose true-class logit is raised by `confidence`:
    large confidence + small noise = a confidently-correct, low-entropy (memorised) split."""
    labels = rng.integers(0, num_classes, n)
    logits = (rng.normal(size=(n, num_classes)) * noise).astype(np.float32)
    logits[np.arange(n), labels] += confidence
    return Outputs(logits, labels)


def mask(n: int, rows: list[int] | range) -> np.ndarray:
    out = np.zeros(n, dtype=bool)
    out[list(rows)] = True
    return out


def random_context(seed: int = 0, n_train: int = 400, n_test: int = 200,
                   n_forget: int = 60, forget_confidence: float = 3.0,
                   retain_confidence: float = 3.0, test_confidence: float = 3.0,
                   forget_noise: float = 2.0, retain_noise: float = 2.0,
                   test_noise: float = 2.0, **extra: object) -> EvalContext:
    """A context whose D_f, D_r and test outputs are drawn independently, so that each
    split's distribution can be set: equal settings = a model that generalises perfectly."""
    rng = np.random.default_rng(seed)
    forget = mask(n_train, rng.choice(n_train, n_forget, replace=False))
    f_out = random_outputs(rng, n_forget, forget_confidence, forget_noise)
    r_out = random_outputs(rng, n_train - n_forget, retain_confidence, retain_noise)
    logits = np.zeros((n_train, f_out.num_classes), dtype=np.float32)
    labels = np.zeros(n_train, dtype=np.int64)
    logits[forget], labels[forget] = f_out.logits, f_out.labels
    logits[~forget], labels[~forget] = r_out.logits, r_out.labels
    test = random_outputs(rng, n_test, test_confidence, test_noise)
    kwargs: dict = dict(
        train=Outputs(logits, labels), true_train_labels=labels.copy(), forget=forget,
        manipulated=np.zeros(n_train, dtype=bool), test=test, test_triggered=None,
        num_classes=f_out.num_classes, seed=seed,
    )
    kwargs.update(extra)
    return EvalContext(**kwargs)


def full_context(seed: int = 0) -> EvalContext:
    """A context where every registered metric applies: poison manipulation (with known
    and unknown manipulated rows), a forget test set (class 1), a triggered test set, wall times, a
    validation split held out of training and a retrain reference whose outputs differ from the
    run's."""
    rng = np.random.default_rng(seed + 1)
    base = random_context(seed)
    manipulated = base.forget.copy()
    manipulated[np.flatnonzero(~base.forget)[:20]] = True  # the unknown manipulated rows
    validation = np.zeros(len(base.forget), dtype=bool)
    validation[np.flatnonzero(~base.forget & ~manipulated)[-20:]] = True
    triggered = Outputs(random_outputs(rng, len(base.test), 1.0).logits, base.test.labels)

    def variant(train: Outputs, test: Outputs, wall: float,
                reference: EvalContext | None) -> EvalContext:
        return EvalContext(
            train=train, true_train_labels=base.true_train_labels, forget=base.forget,
            manipulated=manipulated, test=test, test_triggered=triggered,
            num_classes=base.num_classes, forget_test=base.test.labels == 1,
            manipulation=Manipulation("poison", target=0), seed=seed, wall_seconds=wall,
            reference=reference, held_out=validation, validation=validation,
        )

    def jitter(o: Outputs) -> Outputs:
        noise = rng.normal(size=o.logits.shape).astype(np.float32)
        return Outputs(o.logits + noise, o.labels)

    reference = variant(base.train, base.test, 100.0, None)
    return variant(jitter(base.train), jitter(base.test), 5.0, reference)
