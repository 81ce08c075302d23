"""(name, description) rows of each registry, for `unlearn ls` and the docs.

Registries are imported lazily so that `unlearn ls datasets` does not import every model."""

from __future__ import annotations

from collections.abc import Callable


def _datasets() -> list[tuple[str, str]]:
    from unlearn_cli.data.sources import DATASETS

    return [(name, spec.description) for name, spec in DATASETS.items()]


def _models() -> list[tuple[str, str]]:
    from unlearn_cli.models import MODELS

    return [(name, spec.description) for name, spec in MODELS.items()]


def _forget_kinds() -> list[tuple[str, str]]:
    from unlearn_cli.forget import FORGET_KINDS

    return [(name, kind.description) for name, kind in FORGET_KINDS.items()]


def _metrics() -> list[tuple[str, str]]:
    from unlearn_cli.metrics import METRICS

    return [(name, metric.description) for name, metric in METRICS.items()]


CATALOGS: dict[str, Callable[[], list[tuple[str, str]]]] = {
    "datasets": _datasets,
    "models": _models,
    "forget-kinds": _forget_kinds,
    "metrics": _metrics,
}


def catalog(what: str) -> list[tuple[str, str]]:
    return CATALOGS[what]()
