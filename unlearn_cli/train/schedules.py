"""Learning-rate schedules as pure functions: multiplier of the peak lr at a given step.

Every schedule is evaluated per optimiser step (every recipe's schedule is per step), so
resuming only needs the step counter. `step`, `natmu_cosine` and `linear` give, step for step,
the factors of the references' own lr functions (NatMU's `lr_lambda_step` and
`lr_lambda_cosine`, the corrective repository's `LinearLR`), including where each applies its
warm-up; `constant`, `onecycle` and `cosine` are ours.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction

from unlearn_cli.errors import InputError

# schedule(step) is the factor of the peak lr that optimiser step `step` (0-based) uses.
Schedule = Callable[[int], float]


@dataclass(frozen=True)
class ScheduleSpec:
    """Which schedule, and its shape parameters, resolved to steps by `build_schedule`."""

    # constant | step (NatMU's lr_lambda_step) | natmu_cosine (NatMU's lr_lambda_cosine)
    # | linear (the corrective repo's LinearLR) | onecycle | cosine
    name: str
    warmup_fraction: float = 0.0  # of total steps; or use warmup_steps
    warmup_steps: int | None = None
    warmup_epochs: float | None = None  # resolved with the epoch length
    milestones: tuple[float, ...] = ()  # for "step": fractions of total steps
    factors: tuple[float, ...] = ()  # multiplier after each milestone
    end_factor: float = 0.0  # for "onecycle"/"cosine"/"natmu_cosine": multiplier at the last step
    decay_horizon: float = 1.0  # for "linear": decays as if reaching 0 at horizon × total steps


def _warmup(step: int, warmup: int) -> float | None:
    # Our linear warm-up (constant, one-cycle, cosine): step 0 trains at lr/warmup, reaching
    # the peak after `warmup` steps. The two reference schedules below have their own.
    if warmup > 0 and step < warmup:
        return (step + 1) / warmup
    return None


def _warmup_length(spec: ScheduleSpec, total_steps: int, steps_per_epoch: int) -> float:
    """The warm-up length in steps as the spec gives it, before any schedule rounds it."""
    if spec.warmup_steps is not None:
        return float(spec.warmup_steps)
    if spec.warmup_epochs is not None:
        return spec.warmup_epochs * steps_per_epoch
    return spec.warmup_fraction * total_steps


def build_schedule(spec: ScheduleSpec, total_steps: int, steps_per_epoch: int = 1) -> Schedule:
    """The factor of the peak lr that optimiser step `step` (0-based) trains with."""
    if total_steps <= 0:
        raise InputError(f"a schedule needs at least one step (got {total_steps})",
                         hint="raise --epochs or --steps")
    if spec.name == "step":
        return _natmu_step(spec, total_steps, steps_per_epoch)
    if spec.name == "natmu_cosine":
        return _natmu_cosine(spec, total_steps, steps_per_epoch)
    if spec.name == "linear":
        return _corrective_linear(spec, total_steps)

    warmup = round(_warmup_length(spec, total_steps, steps_per_epoch))
    warmup = min(max(warmup, 0), total_steps)

    if spec.name == "constant":
        return lambda step: _warmup(step, warmup) or 1.0

    if spec.name == "onecycle":
        def onecycle(step: int) -> float:
            warm = _warmup(step, warmup)
            if warm is not None:
                return warm
            span = max(total_steps - warmup, 1)
            progress = (step - warmup + 1) / span
            return 1.0 + (spec.end_factor - 1.0) * progress

        return onecycle

    if spec.name == "cosine":
        def cosine(step: int) -> float:
            warm = _warmup(step, warmup)
            if warm is not None:
                return warm
            span = max(total_steps - warmup, 1)
            progress = (step - warmup) / span
            return spec.end_factor + (1 - spec.end_factor) * 0.5 * (1 + math.cos(math.pi * progress))

        return cosine

    raise InputError(f"unknown schedule '{spec.name}'",
                     hint="valid schedules: constant, step, natmu_cosine, linear, onecycle, cosine")


def _natmu_step(spec: ScheduleSpec, total_steps: int, steps_per_epoch: int) -> Schedule:
    """NatMU's `lr_lambda_step` (utils/lr_scheduler.py) with lr_min 0, step for step.

    NatMU wraps it in torch's LambdaLR and calls scheduler.step() after optimizer.step(),
    so optimiser step k trains with lambda(k): the warm-up starts at 0 (step 0 does not
    move the weights) and rises as k/W, with W = warm-up epochs × batches per epoch left
    unrounded. Each milestone m holds the previous factor up to and including step
    int(total·m), in floats as the reference computes it, and only then drops.
    """
    warmup = _warmup_length(spec, total_steps, steps_per_epoch)
    bounds = [int(total_steps * m) for m in spec.milestones]
    drops = list(zip(bounds, spec.factors))

    def natmu_step(step: int) -> float:
        if step < warmup:
            return step / warmup
        factor = 1.0
        for bound, value in drops:
            if step > bound:
                factor = value
        return factor

    return natmu_step


def _natmu_cosine(spec: ScheduleSpec, total_steps: int, steps_per_epoch: int) -> Schedule:
    """NatMU's `lr_lambda_cosine` (utils/lr_scheduler.py:39-50) with constant_epoch 0 and
    lr_min = end_factor × peak, step for step.

    Under LambdaLR with scheduler.step() after optimizer.step(), optimiser step k trains with
    lambda(k), and lambda evaluates the cosine at k + 1: so unlike our `cosine`, the first
    step already runs just below the peak and the last step runs at lr_min (0 by default):
    factor(k) = end + (1 − end)·(1 + cos(π·(k + 1 − W)/(T − W)))/2, after a warm-up of
    (k + 1)/W while k + 1 < W (W = warm-up length in steps, unrounded).
    """
    warmup = _warmup_length(spec, total_steps, steps_per_epoch)
    span = total_steps - warmup

    def natmu_cosine(step: int) -> float:
        position = step + 1
        if position < warmup:
            return position / warmup
        # The reference divides by T − W; with a warm-up as long as the run it never gets here.
        progress = (position - warmup) / span if span > 0 else 1.0
        return spec.end_factor + (1 - spec.end_factor) * (0.5 + 0.5 * math.cos(math.pi * progress))

    return natmu_cosine


def _corrective_linear(spec: ScheduleSpec, total_steps: int) -> Schedule:
    """The corrective repository's `LinearLR` (src/utils.py), step for step.

    There it is built as LinearLR(T = 1.25 × iterations, warmup = iterations // 100); the
    scheduler's construction already sets last_epoch to 0 and scheduler.step() follows
    optimizer.step(), so optimiser step k trains with rate(k):
    (k + 1)/(W + 1) while k < W, then 1 − (k − W)/T. The decay divides by T itself, not by
    T − W, so the last of 4000 steps runs at 1 − 3959/5000 ≈ 0.208 of the peak.
    """
    if spec.warmup_steps is not None:
        warmup = spec.warmup_steps
    else:
        # floor of an exact decimal product: a fraction of 0.01 is `iterations // 100`.
        warmup = math.floor(Fraction(repr(float(spec.warmup_fraction))) * total_steps)
    horizon = spec.decay_horizon * total_steps

    def corrective_linear(step: int) -> float:
        if step < warmup:
            return (step + 1) / (warmup + 1)
        # Never negative: equal to the reference wherever its rate is (every step of a run
        # whose horizon is at least its length).
        return max(0.0, 1.0 - (step - warmup) / horizon)

    return corrective_linear
