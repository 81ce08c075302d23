"""The metric registry and `compute_metrics`.

A metric is a *group*: one registered name whose compute function may yield several values
(`accuracy` yields FA, RA, TA, UA). `compute_metrics` accepts either a group name (all its
values) or a single value name (`kl_forget`: just that value of its group).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from unlearn_cli.errors import InputError, UnknownNameError
from unlearn_cli.metrics.context import EvalContext
from unlearn_cli.registry import Registry

Compute = Callable[[EvalContext], dict[str, float]]


def _always(ctx: EvalContext) -> bool:
    return True


@dataclass(frozen=True)
class Metric:
    """A registered metric group.

    `keys` lists every value name the group can yield (a run may yield fewer: the
    corrective group yields `attack_success` only for poison). `requires` says, for a user,
    what a run needs for `applies` to be true.
    """

    name: str
    description: str  # one line, states the direction (what is better / what it means)
    applies: Callable[[EvalContext], bool]
    compute: Compute
    keys: tuple[str, ...] = field(default=())
    requires: str | None = None


METRICS: Registry[Metric] = Registry("metric")


def register_metric(
    name: str,
    *,
    description: str,
    keys: Sequence[str] | None = None,
    applies: Callable[[EvalContext], bool] = _always,
    requires: str | None = None,
) -> Callable[[Compute], Compute]:
    """Register a compute function as metric `name`. `keys` defaults to `(name,)`."""

    def decorator(fn: Compute) -> Compute:
        value_keys = tuple(keys) if keys is not None else (name,)
        for key in value_keys:
            owner = _owner_of_key(key)
            if owner is not None and owner.name != name:
                raise ValueError(f"metric value '{key}' is already yielded by '{owner.name}'")
        METRICS.add(
            name,
            Metric(name=name, description=description, applies=applies, compute=fn,
                   keys=value_keys, requires=requires),
        )
        return fn

    return decorator


def _owner_of_key(key: str) -> Metric | None:
    for _, metric in METRICS.items():
        if key in metric.keys:
            return metric
    return None


def value_names() -> list[str]:
    """Every value name any registered metric can yield, in registry order."""
    return [key for _, metric in METRICS.items() for key in metric.keys]


def _resolve(names: Sequence[str]) -> dict[str, set[str] | None]:
    """Map requested names to {group: wanted keys (None = all)}; unknown names raise."""
    wanted: dict[str, set[str] | None] = {}
    unknown: list[str] = []
    for name in names:
        if name in METRICS:
            wanted[name] = None
            continue
        owner = _owner_of_key(name)
        if owner is None:
            unknown.append(name)
            continue
        keys = wanted.get(owner.name, set())
        if keys is not None:  # None: the whole group is already asked for
            keys.add(name)
            wanted[owner.name] = keys
    if unknown:
        raise UnknownNameError(
            f"unknown metric{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))}",
            hint=f"valid metrics: {', '.join(METRICS.names())}; "
            f"single values: {', '.join(value_names())}",
        )
    return wanted


def check_metric_names(names: Sequence[str]) -> None:
    """Raise UnknownNameError for any name that is neither a metric nor a value name, so a
    typo in --metrics fails before any model is run."""
    _resolve(names)


def compute_metrics(ctx: EvalContext, names: Sequence[str] | None = None) -> dict[str, float]:
    """Compute metrics on `ctx`; values are python floats in registry order.

    `names=None` computes every metric that applies to the run. Otherwise each name is a
    metric group (all its values) or one value name (`kl_forget`, `FA`); a named metric
    that does not apply raises InputError saying what the run lacks.
    """
    if names is None:
        selected: dict[str, set[str] | None] = {
            name: None for name, metric in METRICS.items() if metric.applies(ctx)
        }
    else:
        selected = _resolve(names)
        missing = [name for name in selected if not METRICS.get(name).applies(ctx)]
        if missing:
            reasons = "; ".join(
                f"'{name}' needs {METRICS.get(name).requires or 'a different run'}"
                for name in missing
            )
            raise InputError(
                f"metric{'s' if len(missing) > 1 else ''} not applicable to this run: {reasons}",
                hint="drop them from --metrics or provide what they need",
            )

    results: dict[str, float] = {}
    for name, metric in METRICS.items():  # registry order, whatever order was asked
        if name not in selected:
            continue
        values = metric.compute(ctx)
        extra = set(values) - set(metric.keys)
        if extra:
            raise ValueError(f"metric '{name}' yielded undeclared values {sorted(extra)}")
        keys = selected[name]
        if keys is not None:
            absent = keys - set(values)
            if absent:
                raise InputError(
                    f"{', '.join(sorted(absent))} is not computed for this run "
                    f"(metric '{name}' yields {', '.join(values)} here)",
                    hint="ask only for values this kind of run has",
                )
            values = {k: v for k, v in values.items() if k in keys}
        results.update({k: float(v) for k, v in values.items()})
    return results
