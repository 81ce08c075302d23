"""Learning-rate schedules as pure functions: multiplier of the peak lr at a given step.

Every schedule is evaluated per optimiser step (the recipes of SPEC §3 are all per-step), so
resuming only needs the step counter.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from unlearn_cli.errors import InputError

Schedule = Callable[[int], float]


@dataclass(frozen=True)
class ScheduleSpec:
    """Which schedule, and its shape parameters, resolved to steps by `build_schedule`."""

    name: str  # constant | step | linear | onecycle | cosine
    warmup_fraction: float = 0.0  # of total steps; or use warmup_steps
    warmup_steps: int | None = None
    warmup_epochs: float | None = None  # resolved with the epoch length
    milestones: tuple[float, ...] = ()  # for "step": fractions of total steps
    factors: tuple[float, ...] = ()  # multiplier from each milestone on
    end_factor: float = 0.0  # for "linear"/"onecycle": multiplier at the last step
    decay_horizon: float = 1.0  # for "linear": decays as if reaching 0 at horizon × total steps


def _warmup(step: int, warmup: int) -> float | None:
    # Linear warm-up from 0: step 0 trains at lr/warmup, reaching the peak after `warmup` steps.
    if warmup > 0 and step < warmup:
        return (step + 1) / warmup
    return None


def build_schedule(spec: ScheduleSpec, total_steps: int, steps_per_epoch: int = 1) -> Schedule:
    if total_steps <= 0:
        raise InputError(f"a schedule needs at least one step (got {total_steps})",
                         hint="raise --epochs or --steps")
    if spec.warmup_steps is not None:
        warmup = spec.warmup_steps
    elif spec.warmup_epochs is not None:
        warmup = round(spec.warmup_epochs * steps_per_epoch)
    else:
        warmup = round(spec.warmup_fraction * total_steps)
    warmup = min(max(warmup, 0), total_steps)

    if spec.name == "constant":
        return lambda step: _warmup(step, warmup) or 1.0

    if spec.name == "step":
        bounds = [round(m * total_steps) for m in spec.milestones]

        def step_schedule(step: int) -> float:
            factor = 1.0
            for bound, value in zip(bounds, spec.factors):
                if step >= bound:
                    factor = value
            warm = _warmup(step, warmup)
            return factor * warm if warm is not None else factor

        return step_schedule

    if spec.name == "linear":
        # Corrective recipe: after warm-up, decay linearly towards 0 at horizon × total steps,
        # so with horizon 1.25 the last step runs at 20 % of the peak.
        horizon = spec.decay_horizon * total_steps

        def linear(step: int) -> float:
            warm = _warmup(step, warmup)
            if warm is not None:
                return warm
            return max(0.0, 1.0 - (step - warmup) / max(horizon - warmup, 1e-12))

        return linear

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
                     hint="valid schedules: constant, step, linear, onecycle, cosine")
