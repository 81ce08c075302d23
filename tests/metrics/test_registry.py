"""compute_metrics: selection by group or value name, order, errors; a smoke test over
every registered metric."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tests.metrics.helpers import full_context, random_context
from unlearn_cli.errors import InputError, UnknownNameError
from unlearn_cli.metrics import (
    METRICS,
    check_metric_names,
    compute_metrics,
    register_metric,
    value_names,
)


@pytest.mark.parametrize("name", METRICS.names())
def test_every_metric_yields_finite_floats(name: str) -> None:
    ctx = full_context()
    metric = METRICS.get(name)
    assert metric.applies(ctx)
    assert metric.description and "\n" not in metric.description
    values = compute_metrics(ctx, [name])
    assert values and set(values) <= set(metric.keys)
    for key, value in values.items():
        assert type(value) is float and math.isfinite(value), (key, value)


def test_all_applicable_metrics_in_registry_order() -> None:
    plain = compute_metrics(random_context())
    # Without reference, manipulation or forget class only the unconditional ones apply.
    assert list(plain) == ["FA", "RA", "TA", "UA", "mia_entropy", "mia_confidence",
                           "mia_confidence_spread", "mia_loss"]
    full = compute_metrics(full_context())
    expected_order = [k for k in value_names() if k in full]
    assert list(full) == expected_order
    assert {"acc_corr", "attack_success", "TA_forget", "avg_gap", "rte"} <= set(full)


def test_value_names_select_single_values_and_keep_registry_order() -> None:
    ctx = full_context()
    values = compute_metrics(ctx, ["kl_test", "UA", "tow", "UA"])
    assert list(values) == ["UA", "tow", "kl_test"]
    both = compute_metrics(ctx, ["kl_to_reference", "kl_test"])
    assert list(both) == ["kl_forget", "kl_test"]


def test_unknown_name_lists_the_valid_ones() -> None:
    with pytest.raises(UnknownNameError, match="'mia_lira'") as err:
        compute_metrics(random_context(), ["accuracy", "mia_lira"])
    assert "mia_entropy" in str(err.value.hint) and "kl_forget" in str(err.value.hint)
    with pytest.raises(UnknownNameError, match="'kl'"):
        check_metric_names(["kl_test", "kl"])
    check_metric_names(["kl_test", "accuracy", "UA"])  # valid names pass without a context


@pytest.mark.parametrize(
    ("name", "reason"),
    [("tow", "--reference"), ("kl_forget", "--reference"), ("classwise", "--class"),
     ("acc_corr", "--manipulation")],
)
def test_non_applicable_metric_says_what_is_missing(name: str, reason: str) -> None:
    with pytest.raises(InputError, match=reason) as err:
        compute_metrics(random_context(), [name])
    assert not isinstance(err.value, UnknownNameError)


def test_duplicate_value_name_cannot_be_registered() -> None:
    before = METRICS.names()
    with pytest.raises(ValueError, match="'FA'"):
        register_metric("my_fa", description="duplicate", keys=("FA",))(
            lambda ctx: {"FA": 0.0})
    assert METRICS.names() == before


def test_undeclared_values_are_a_programming_error() -> None:
    register_metric("_test_undeclared", description="yields an undeclared key")(
        lambda ctx: {"surprise": 1.0})
    try:
        with pytest.raises(ValueError, match="surprise"):
            compute_metrics(random_context(), ["_test_undeclared"])
    finally:
        METRICS._items.pop("_test_undeclared")  # keep the registry as the package made it
    assert "_test_undeclared" not in METRICS


def test_results_do_not_depend_on_cached_state() -> None:
    ctx = random_context(seed=4)
    first = compute_metrics(ctx)
    assert compute_metrics(ctx) == first
    assert np.isclose(first["UA"], 100.0 - first["FA"])
