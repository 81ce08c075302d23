"""Outputs, Manipulation and EvalContext: derived quantities and input checks."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tests.metrics.helpers import full_context, outputs, random_context
from unlearn_cli.errors import InputError
from unlearn_cli.forget.manipulations import Manipulation
from unlearn_cli.metrics import EvalContext, Outputs


def test_outputs_derived_quantities_by_hand() -> None:
    logits = np.array([[0.0, 0.0, 0.0, 0.0], [math.log(3.0), 0.0, 0.0, 0.0]],
                      dtype=np.float32)
    out = Outputs(logits, np.array([2, 0]))
    # Row 0 is uniform over 4 classes; row 1 has probabilities 3/6, 1/6, 1/6, 1/6.
    np.testing.assert_allclose(out.probs[1], [0.5, 1 / 6, 1 / 6, 1 / 6], rtol=1e-6)
    np.testing.assert_allclose(out.true_prob, [0.25, 0.5], rtol=1e-6)
    np.testing.assert_allclose(out.loss, [math.log(4), math.log(2)], rtol=1e-6)
    np.testing.assert_allclose(out.entropy[0], math.log(4), rtol=1e-6)
    expected_h1 = -(0.5 * math.log(0.5) + 3 * (1 / 6) * math.log(1 / 6))
    np.testing.assert_allclose(out.entropy[1], expected_h1, rtol=1e-6)
    assert out.predictions.tolist() == [0, 0]
    assert out.probs.dtype == np.float64


def test_outputs_are_stable_for_huge_logits() -> None:
    out = Outputs(np.array([[1000.0, -1000.0, 0.0]], dtype=np.float32), np.array([1]))
    assert np.isfinite(out.loss).all() and out.loss[0] == pytest.approx(2000.0)
    assert out.entropy[0] == pytest.approx(0.0, abs=1e-12)
    assert out.true_prob[0] == 0.0


def test_subset_by_mask_and_indices_reuses_caches() -> None:
    out = outputs([0, 1, 2, 3], [0, 1, 1, 3])
    _ = out.loss  # compute the cache on the full split first
    by_mask = out.subset(np.array([False, True, True, False]))
    by_index = out.subset([2, 1])
    assert by_mask.labels.tolist() == [1, 1] and by_mask.predictions.tolist() == [1, 2]
    assert by_index.labels.tolist() == [1, 1] and by_index.predictions.tolist() == [2, 1]
    np.testing.assert_allclose(by_mask.loss, out.loss[1:3])
    np.testing.assert_allclose(by_index.loss, Outputs(out.logits[[2, 1]], out.labels[[2, 1]]).loss)
    assert len(out.subset(np.array([], dtype=np.int64))) == 0


# Arrays the evaluation step builds itself: a mismatch is a bug (ValueError, shown as an internal
# error), except NaN logits, which a diverged model gives (a user error with a hint).
@pytest.mark.parametrize(
    ("logits", "labels", "named", "error"),
    [
        (np.zeros(4, dtype=np.float32), [0, 1, 2, 3], "2-D", ValueError),
        (np.zeros((3, 4), dtype=np.float32), [0, 1], "3 rows", ValueError),
        (np.zeros((2, 4), dtype=np.int64), [0, 1], "floating", ValueError),
        (np.zeros((2, 4), dtype=np.float32), [0.0, 1.0], "integers", ValueError),
        (np.zeros((2, 4), dtype=np.float32), [0, 4], "0..3", ValueError),
        (np.array([[np.nan, 0, 0, 0], [0, 0, 0, 0]], dtype=np.float32), [0, 1], "NaN", InputError),
    ],
)
def test_outputs_reject_bad_input(logits: np.ndarray, labels: list, named: str, error: type) -> None:
    with pytest.raises(error, match=named) as err:
        Outputs(logits, np.asarray(labels))
    assert (err.value.hint if error is InputError else not isinstance(err.value, InputError))


def test_subset_rejects_bad_selection() -> None:
    out = outputs([0, 1], [0, 1])
    with pytest.raises(ValueError, match=r"shape \(3,\)"):
        out.subset(np.array([True, False, True]))
    with pytest.raises(ValueError, match="float"):
        out.subset(np.array([0.5]))


@pytest.mark.parametrize(
    ("kwargs", "named"),
    [
        ({"kind": "backdoor"}, "backdoor"),
        ({"kind": "poison"}, "target"),
        ({"kind": "interclass"}, "None"),
        ({"kind": "interclass", "classes": (3, 3)}, r"\(3, 3\)"),
    ],
)
def test_manipulation_rejects_bad_settings(kwargs: dict, named: str) -> None:
    with pytest.raises(InputError, match=named):
        Manipulation(**kwargs)


def _ctx_kwargs() -> dict:
    ctx = random_context()
    return dict(train=ctx.train, true_train_labels=ctx.true_train_labels, forget=ctx.forget,
                manipulated=ctx.manipulated, test=ctx.test, test_triggered=None,
                num_classes=ctx.num_classes)


# What the step assembles (masks, shapes, the triggered split) is a bug if wrong: ValueError.
# What a user's data or manifests can cause is a user error with a hint.
@pytest.mark.parametrize(
    ("change", "named", "error"),
    [
        ({"forget": np.zeros(400, dtype=bool)}, "D_f is empty", ValueError),
        ({"forget": np.ones(400, dtype=bool)}, "D_r is empty", ValueError),
        ({"forget": np.arange(400) % 2}, "forget must be a boolean mask", ValueError),
        ({"manipulated": np.zeros(10, dtype=bool)}, "manipulated must be a boolean mask", ValueError),
        ({"true_train_labels": np.zeros(5, dtype=np.int64)}, "true_train_labels", ValueError),
        ({"num_classes": 4}, "10 classes, expected 4", ValueError),
        ({"forget_test": np.arange(200) % 2}, "forget_test must be a boolean mask", ValueError),
        ({"forget_test": np.zeros(10, dtype=bool)}, r"forget_test must .* shape \(200,\)", ValueError),
        ({"forget_test": np.ones(200, dtype=bool)}, "every test image", InputError),
        ({"manipulation": Manipulation("poison", target=0)}, "triggered test set", ValueError),
        ({"manipulation": Manipulation("interclass", classes=(3, 12))}, "class 12", InputError),
    ],
)
def test_context_rejects_inconsistent_input(change: dict, named: str, error: type) -> None:
    kwargs = _ctx_kwargs() | change
    with pytest.raises(error, match=named) as err:
        EvalContext(**kwargs)
    assert (err.value.hint if error is InputError else not isinstance(err.value, InputError))


def test_context_rejects_empty_test_split() -> None:
    kwargs = _ctx_kwargs() | {"test": Outputs(np.zeros((0, 10), dtype=np.float32),
                                              np.zeros(0, dtype=np.int64))}
    with pytest.raises(InputError, match="test split is empty"):
        EvalContext(**kwargs)


def test_context_rejects_triggered_labels_that_are_not_the_true_ones() -> None:
    ctx = random_context()
    wrong = Outputs(ctx.test.logits, np.zeros(len(ctx.test), dtype=np.int64))
    kwargs = _ctx_kwargs() | {"manipulation": Manipulation("poison", target=0),
                              "test_triggered": wrong}
    with pytest.raises(ValueError, match="triggered test set's labels"):
        EvalContext(**kwargs)


def test_context_rejects_reference_on_another_forget_set_or_test_set() -> None:
    ctx = full_context()
    ref = ctx.reference
    assert ref is not None
    other_forget = ref.forget.copy()
    other_forget[np.flatnonzero(~other_forget)[0]] = True
    moved = EvalContext(**(_ctx_kwargs() | {"forget": other_forget}))
    with pytest.raises(InputError, match="different forget set"):
        EvalContext(**(_ctx_kwargs() | {"reference": moved}))
    other_test = Outputs(ref.test.logits[:-1], ref.test.labels[:-1])
    with pytest.raises(InputError, match="different test set"):
        EvalContext(**(_ctx_kwargs() | {"reference": EvalContext(
            **(_ctx_kwargs() | {"test": other_test}))}))


def test_context_rejects_reference_with_another_forget_test_set() -> None:
    ctx = random_context()
    split = _ctx_kwargs() | {"forget_test": ctx.test.labels == 1}
    other = _ctx_kwargs() | {"forget_test": ctx.test.labels == 2}
    for reference in (EvalContext(**other), EvalContext(**_ctx_kwargs())):
        with pytest.raises(InputError, match="another forget test set"):
            EvalContext(**(split | {"reference": reference}))
    EvalContext(**(split | {"reference": EvalContext(**split)}))  # the same split is fine


def test_memo_computes_once_per_key() -> None:
    ctx = random_context()
    calls: list[str] = []

    def compute() -> float:
        calls.append("x")
        return 1.5

    assert ctx.memo("x", compute) == 1.5 and ctx.memo("x", compute) == 1.5
    assert calls == ["x"]


def test_forget_and_retain_outputs_split_the_train_rows() -> None:
    ctx = random_context(n_train=50, n_forget=7)
    assert len(ctx.forget_outputs) == 7 and len(ctx.retain_outputs) == 43
    np.testing.assert_array_equal(ctx.forget_outputs.labels, ctx.train.labels[ctx.forget])


def test_manipulation_classes_from_a_json_list_become_a_tuple() -> None:
    m = Manipulation("interclass", classes=[3, 5])  # type: ignore[arg-type]
    assert m.classes == (3, 5) and hash(m) == hash(Manipulation("interclass", classes=(3, 5)))
