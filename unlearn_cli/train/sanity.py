"""What a training run tells its user on stderr beside its manifest: its final accuracies, and a
warning where the numbers say it went wrong, with the fix.

Why: the `fast` recipe's batch 512 on a 1 497-image split is 2 optimiser steps an epoch, and
its 9.3 % model looked like any other run until someone read the manifest. A run that ends at
chance accuracy, or whose epochs are a handful of steps, says so when it happens.
"""

from __future__ import annotations

import logging
import math

from unlearn_cli.console import stderr_console

log = logging.getLogger(__name__)

MIN_STEPS_PER_EPOCH = 10  # fewer and most recipes' schedules and epochs stop meaning much
CHANCE_MARGIN = 1.5  # test accuracy below 1.5 × chance (100 % / classes) reads as chance


def few_steps_warning(*, steps_per_epoch: int, batch_size: int, rows: int, epochs: int | None) -> str | None:
    """A warning when an epoch is fewer than MIN_STEPS_PER_EPOCH optimiser steps."""
    if steps_per_epoch >= MIN_STEPS_PER_EPOCH or epochs is None:
        return None
    suggested = max(1, 2 ** math.floor(math.log2(max(1, rows // MIN_STEPS_PER_EPOCH))))
    return (f"an epoch is only {steps_per_epoch} optimiser step{'s' if steps_per_epoch != 1 else ''} "
            f"(batch {batch_size} over {rows} rows), so {epochs} epochs train very little; "
            f"e.g. --batch-size {suggested} gives {rows // suggested}")


def chance_warning(what: str, test_accuracy: float, num_classes: int) -> str | None:
    """A warning when a model's test accuracy (in %) is no better than guessing."""
    chance = 100.0 / num_classes
    if test_accuracy > CHANCE_MARGIN * chance:
        return None
    return (f"{what} is at chance accuracy: {test_accuracy:.1f} % on the test split, where guessing among "
            f"{num_classes} classes gives {chance:.1f} %; train longer (--epochs), or check the lr and batch size")


def accuracy_line(what: str, accuracies: dict[str, float]) -> str:
    """`pretrain digits-cnn-s0: train 99.1 %, test 97.8 %` (accuracies in %)."""
    return f"{what}: " + ", ".join(f"{split} {value:.1f} %" for split, value in accuracies.items())


def report(what: str, accuracies: dict[str, float], warnings: list[str | None]) -> None:
    """The accuracy line on stderr, then each warning through the log (shown by default)."""
    stderr_console().print(accuracy_line(what, accuracies), highlight=False, markup=False, soft_wrap=True)
    for warning in warnings:
        if warning is not None:
            log.warning("%s", warning)
