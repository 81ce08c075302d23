"""natmu (docs/methods.md "NatMU in detail"): masks, most-confused classes, pairing, on-the-fly hybrids, the mixed
source, the schedule, the head re-initialisation, and real runs on digits and a CIFAR-10-format
fixture. Each test pins a rule of the reference (ZhengbaoHe/NatMU) or of docs/methods.md."""

from __future__ import annotations

import functools
import math
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode

from tests.conftest import assert_one_line_error
from tests.steps.pipeline import copy_workspace, prepared, pretrained
from unlearn_cli.artifacts import Workspace
from unlearn_cli.data.augment import AugmentSpec, normalize
from unlearn_cli.data.loader import BatchLoader, DeviceSplit
from unlearn_cli.data.prepared import load_split
from unlearn_cli.data.trigger import Trigger
from unlearn_cli.errors import InputError
from unlearn_cli.methods import METHODS
from unlearn_cli.methods.common import reinit_head
from unlearn_cli.methods.natmu import (
    Hybrids,
    NatmuParams,
    assign_classes,
    check_pairable,
    class_ranking,
    confusion_scores,
    natmu_masks,
    pair_hybrids,
    reference_pairing,
)
from unlearn_cli.params import resolve_params
from unlearn_cli.steps.common import load_weights, training_view
from unlearn_cli.steps.forget_set import make_forget_set
from unlearn_cli.steps.options import ForgetSetOptions, UnlearnOptions
from unlearn_cli.steps.unlearn import unlearn
from unlearn_cli.train.device import SpeedSwitches
from unlearn_cli.train.inference import predict_logits
from unlearn_cli.train.options import GenericOptions
from unlearn_cli.train.schedules import ScheduleSpec, build_schedule
from unlearn_cli.train.sources import Mixed

MEAN, STD = [0.4, 0.5, 0.6], [0.2, 0.25, 0.3]


# ---- helpers --------------------------------------------------------------------------------


def _split(labels: np.ndarray, size: int = 32, channels: int = 3, seed: int = 0) -> DeviceSplit:
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, (len(labels), size, size, channels), dtype=np.uint8)
    return DeviceSplit.from_numpy(images, np.asarray(labels), "cpu")


def _pairing(scores, forget_labels, retain_labels, num_classes, k=4, seed=0, retain_rows=None):
    retain_labels = np.asarray(retain_labels)
    rows = np.arange(1000, 1000 + len(retain_labels)) if retain_rows is None else retain_rows
    return pair_hybrids(np.asarray(scores, float), [np.asarray(forget_labels)], rows, retain_labels,
                        num_classes, k, seed)


def _check_distinct(pairing) -> None:
    assert len(np.unique(pairing.retain)) == len(pairing.retain), "a retain row is used twice"


# ---- 1. masks -------------------------------------------------------------------------------


def _reference_masks(size: int, delta: float) -> np.ndarray:
    """A hand transcription of generate_mask_cifar (generate_patch_data.py:4-23)."""
    m = np.zeros((4, 3, size, size), dtype=np.float32)
    b = size // 2
    for i in range(2):
        for j in range(b):
            up, down = j / b, (b - 1) / b - j / b
            first, second = (up, down) if i == 0 else (down, up)
            m[0, :, i * b + j, :] = first
            m[1, :, :, i * b + j] = first
            m[2, :, i * b + j, :] = second
            m[3, :, :, i * b + j] = second
    return np.clip(m + delta, 0, 1)


def test_masks_hand_checked_row_and_column_at_32px():
    masks = natmu_masks(32, 32, -0.19).numpy()
    assert masks.shape == (4, 1, 32, 32)
    # Mask 0 down any column: 0 at the edges, j/16 − 0.19 clipped at 0, 15/16 − 0.19 at the centre.
    tent = [0, 0, 0, 0, 0.06, 0.1225, 0.185, 0.2475, 0.31, 0.3725, 0.435, 0.4975, 0.56, 0.6225, 0.685, 0.7475]
    expected = np.array(tent + tent[::-1], dtype=np.float32)
    np.testing.assert_allclose(masks[0, 0, :, 7], expected, atol=1e-6)
    np.testing.assert_allclose(masks[0, 0, 20, :], expected[20])  # constant along a row
    # Mask 1 along any row is the same tent; mask 3 (inverted) is high at the edges.
    np.testing.assert_allclose(masks[1, 0, 5, :], expected, atol=1e-6)
    inverted = np.array(tent[::-1] + tent, dtype=np.float32)
    np.testing.assert_allclose(masks[3, 0, 9, :], inverted, atol=1e-6)
    np.testing.assert_allclose(masks[2, 0, :, 30], inverted, atol=1e-6)
    # δ > 0 clips at 1: the centre of mask 0 and the edges of mask 2.
    high = natmu_masks(32, 32, 0.2).numpy()
    assert high[0, 0, 15, 0] == 1.0 and high[2, 0, 0, 0] == 1.0 and high[0, 0, 0, 0] == pytest.approx(0.2)


@pytest.mark.parametrize("size", [32, 64, 8])
@pytest.mark.parametrize("delta", [-0.19, 0.0, 0.045, -0.53, -0.03, -0.053])
def test_masks_equal_the_reference_bit_for_bit(size, delta):
    # Bit for bit: a hybrid pixel is truncated to an integer, so one ulp of a mask can move it.
    ours = natmu_masks(size, size, delta).numpy()
    np.testing.assert_array_equal(np.broadcast_to(ours, (4, 3, size, size)), _reference_masks(size, delta))


# ---- 2. most-confused classes ------------------------------------------------------------


def test_ranking_zeroes_own_classes_and_skips_classes_without_rows():
    scores = np.array([[0.1, 0.5, 0.2, 0.15, 0.05],
                       [0.6, 0.1, 0.1, 0.1, 0.1]])
    usable = np.array([True, True, True, False, True])  # class 3 has no retain rows
    order, valid = class_ranking(scores, [np.array([1, 0])], usable)
    assert order[0, :3].tolist() == [2, 0, 4] and valid[0] == 3  # own class 1 and empty 3 skipped
    assert order[1, :3].tolist() == [1, 2, 4] and valid[1] == 3  # ties: lower class first
    # A manipulated sample excludes its training label as well as its true one.
    order, valid = class_ranking(scores, [np.array([1, 0]), np.array([2, 0])], usable)
    assert order[0, :2].tolist() == [0, 4] and valid.tolist() == [2, 3]


class _ModeProbe(nn.Module):
    """Logits that differ between train and eval mode, like BatchNorm's."""

    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.zeros(1))

    def forward(self, x):
        logits = x.flatten(1)[:, :3]
        return logits if not self.training else -logits


def test_confusion_scores_use_eval_mode_and_restore_training():
    split = _split(np.arange(6) % 3, size=2, channels=1)
    model = _ModeProbe().train()
    loader = BatchLoader(split, batch_size=4, mean=[0.5], std=[0.5], shuffle=False)
    scores = confusion_scores(model, loader)
    x = normalize(split.images.float(), [0.5], [0.5]).flatten(1)[:, :3]
    np.testing.assert_allclose(scores, torch.softmax(x, 1).double().numpy(), rtol=1e-6)
    assert model.training


# ---- 3. pairing -------------------------------------------------------------------------


def test_pairing_takes_the_k_most_confused_classes_with_distinct_rows():
    rng = np.random.default_rng(1)
    n_f, c = 30, 10
    scores = rng.random((n_f, c))
    forget_labels = rng.integers(0, c, n_f)
    retain_labels = np.repeat(np.arange(c), 50)
    pairing = _pairing(scores, forget_labels, retain_labels, c)
    assert len(pairing.label) == 4 * n_f and pairing.reused == 0
    _check_distinct(pairing)
    masked = scores.copy()
    masked[np.arange(n_f), forget_labels] = 0  # the reference: softmax × mask, top-k
    topk = np.argsort(-masked, axis=1)[:, :4]
    np.testing.assert_array_equal(pairing.label.reshape(n_f, 4), topk)
    # Hybrid i·K + k: forget sample i, mask k (np.repeat / np.tile order).
    assert pairing.forget.tolist() == np.repeat(np.arange(n_f), 4).tolist()
    assert pairing.mask.tolist() == np.tile(np.arange(4), n_f).tolist()
    # Every label is the paired retain row's class.
    np.testing.assert_array_equal(retain_labels[pairing.retain - 1000], pairing.label)


def test_pairing_of_a_one_class_forget_set_that_swamps_one_class():
    # 60 forget samples of class 0, all most confused with class 1, which has 25 retain rows.
    c, n_f = 6, 60
    scores = np.tile([0.0, 0.5, 0.2, 0.15, 0.1, 0.05], (n_f, 1))
    retain_labels = np.repeat(np.arange(c), [10, 25, 70, 70, 70, 70])
    pairing = _pairing(scores, np.zeros(n_f, int), retain_labels, c)
    assert len(pairing.label) == 4 * n_f and pairing.reused == 0
    _check_distinct(pairing)
    used = np.bincount(pairing.label, minlength=c)
    assert used[0] == 0 and used[1] == 25  # never the own class; class 1 gives all it has, no more
    assert (used <= np.bincount(retain_labels, minlength=c)).all()
    per_sample = pairing.label.reshape(n_f, 4)
    assert all(len(set(row)) == 4 for row in per_sample)  # four different classes each
    # The overflow of class 1 moved to each sample's next most-confused class, in order.
    assert sorted(map(tuple, per_sample[per_sample[:, 0] != 1])) == [(2, 3, 4, 5)] * 35


def test_pairing_falls_back_when_a_class_has_no_retain_rows():
    scores = np.array([[0.0, 0.6, 0.2, 0.1, 0.05, 0.05]] * 3)
    retain_labels = np.repeat([0, 2, 3, 4, 5], 10)  # class 1, the most confused, has none
    pairing = _pairing(scores, [0, 0, 0], retain_labels, 6)
    assert pairing.label.reshape(3, 4).tolist() == [[2, 3, 4, 5]] * 3
    _check_distinct(pairing)


def test_pairing_with_fewer_wrong_classes_than_k_repeats_classes_not_rows():
    scores = np.array([[0.2, 0.5, 0.3]] * 5)
    pairing = _pairing(scores, [0] * 5, np.repeat([0, 1, 2], 20), 3)
    assert len(pairing.label) == 20 and pairing.reused == 0 and 0 not in pairing.label
    _check_distinct(pairing)
    assert pairing.label.reshape(5, 4)[:, :2].tolist() == [[1, 2]] * 5


def test_pairing_when_d_r_is_smaller_than_the_demand_reuses_evenly_and_says_so():
    scores = np.array([[0.0, 0.7, 0.3]] * 10)
    retain_labels = np.array([1, 1, 1, 2, 2])  # 5 rows for 40 hybrids
    pairing = _pairing(scores, [0] * 10, retain_labels, 3)
    assert len(pairing.label) == 40 and pairing.reused == 35
    counts = np.unique(pairing.retain, return_counts=True)[1]
    assert len(counts) == 5 and counts.max() - counts.min() <= 4


@pytest.mark.parametrize("seed", range(12))
def test_pairing_invariants_on_random_imbalanced_sets(seed):
    rng = np.random.default_rng(seed)
    c = int(rng.integers(3, 12))
    n_f = int(rng.integers(1, 80))
    skew = rng.dirichlet(np.full(c, 0.3))  # hardest sets: a few classes dominate
    forget_labels = rng.choice(c, n_f, p=skew)
    retain_labels = rng.choice(c, int(rng.integers(5, 400)), p=rng.dirichlet(np.full(c, 0.5)))
    # Confusions concentrated on a few classes, as on a hardest set.
    scores = rng.dirichlet(np.full(c, 0.2), n_f) + skew[::-1] * rng.random()
    own = [forget_labels]
    try:
        check_pairable(own, retain_labels, c, [str(i) for i in range(c)])
    except InputError:
        pytest.skip("no class to pair with")
    pairing = _pairing(scores, forget_labels, retain_labels, c, seed=seed)
    assert len(pairing.label) == 4 * n_f
    np.testing.assert_array_equal(retain_labels[pairing.retain - 1000], pairing.label)
    assert not (pairing.label.reshape(n_f, 4) == forget_labels[:, None]).any()
    # Rows repeat only in the slots counted as reused (D_r ran out for that sample).
    assert len(np.unique(pairing.retain)) == 4 * n_f - pairing.reused
    counts = np.bincount(retain_labels, minlength=c)
    candidates = [counts.sum() - counts[y] for y in forget_labels]
    if min(candidates) >= 4 * n_f:  # every sample's classes hold all the hybrids: no reuse
        assert pairing.reused == 0
    # Deterministic in the seed.
    again = _pairing(scores, forget_labels, retain_labels, c, seed=seed)
    np.testing.assert_array_equal(again.retain, pairing.retain)


def test_assignment_never_asks_a_class_for_more_than_it_has():
    # 160 slots, 172 rows, but classes 0, 1 and 3 hold only 12: samples repeat classes 2 and 4.
    rng = np.random.default_rng(3)
    order = np.tile(np.arange(5), (40, 1))
    counts = np.array([7, 3, 30, 2, 130])
    slot_class, reused = assign_classes(order, np.full(40, 5), counts, 4, rng)
    assert not reused.any()
    assert (np.bincount(slot_class.ravel(), minlength=5) <= counts).all()


def test_check_pairable_names_the_stuck_class():
    with pytest.raises(InputError, match="class three .* D_r holds only three"):
        check_pairable([np.array([3, 3, 1])], np.array([3, 3]), 4, ["zero", "one", "two", "three"])
    check_pairable([np.array([1, 1])], np.array([3, 3]), 4, ["a", "b", "c", "d"])  # fine


# ---- 3b. NatMU's own pairing -------------------------------------------------------------


def _natmu_pairing(scores, forget_labels, retain_labels, num_classes, seed, overflow=True):
    """A hand transcription of sample-wise/natmu.py:51-63 (select_patch_class on the softmax),
    65-75 (get_random_idx_of_retainData_from_randomLabel) and 96-118, with numpy's global
    generator seeded as seed_everything seeds it (utils/util.py:253-255) and no numpy draw
    before (model building and the DataLoaders draw from torch). `overflow=False`: the
    class-wise natmu.py, which skips lines 97-107."""
    np.random.seed(seed)
    outputs = torch.from_numpy(np.asarray(scores, dtype=np.float32))
    y = torch.from_numpy(np.asarray(forget_labels))
    mask = torch.ones_like(outputs)
    mask.scatter_(1, y.unsqueeze(1), 0)
    random_label = torch.topk(outputs * mask, k=4, dim=1)[1].reshape(-1).numpy()
    if overflow:
        record = []
        num_of_samples_in_retain = len(retain_labels) / num_classes
        tmp_num = int(num_of_samples_in_retain * 0.98)
        for i in range(num_classes):
            if (random_label == i).sum() < num_of_samples_in_retain * 0.4:
                record.append(i)
            if (random_label == i).sum() > tmp_num:
                np.random.shuffle(record)
                j = record.pop()
                new_label = np.array([i for _ in range(tmp_num)] + [j for _ in range((random_label == i).sum() - tmp_num)])
                random_label[random_label == i] = new_label
    random_idx_of_retainset = np.random.permutation(len(retain_labels))
    length = len(random_label)
    position_eq = retain_labels[random_idx_of_retainset[:length]] == random_label
    while position_eq.sum() < length:
        idx_eq = np.nonzero(position_eq)[0]
        eq_mask = np.isin(np.arange(len(random_idx_of_retainset)), idx_eq)
        random_idx_of_retainset[~eq_mask] = np.random.permutation(random_idx_of_retainset[~eq_mask])
        position_eq = retain_labels[random_idx_of_retainset[:length]] == random_label
    return random_idx_of_retainset[:length]


def _ours(scores, forget_labels, retain_labels, num_classes, seed, overflow=True):
    return reference_pairing(np.asarray(scores, float), [np.asarray(forget_labels)], np.arange(len(retain_labels)),
                             np.asarray(retain_labels), num_classes, 4, seed, overflow=overflow)


@pytest.mark.parametrize("seed", [0, 3, 7])
def test_natmus_pairing_is_reproduced_exactly_on_a_balanced_set(seed):
    rng = np.random.default_rng(seed)
    n_f, c = 40, 10
    scores = rng.dirichlet(np.ones(c), n_f)
    forget_labels = rng.integers(0, c, n_f)
    retain_labels = rng.permutation(np.repeat(np.arange(c), 60))
    pairing = _ours(scores, forget_labels, retain_labels, c, seed)
    reference = _natmu_pairing(scores, forget_labels, retain_labels, c, seed)
    assert pairing is not None and pairing.retain.tolist() == reference.tolist()
    assert pairing.label.tolist() == retain_labels[reference].tolist()
    assert pairing.forget.tolist() == np.repeat(np.arange(n_f), 4).tolist()
    assert pairing.mask.tolist() == np.tile(np.arange(4), n_f).tolist()


def _overflowing_scores():
    """45 forget samples of class 7 over 8 classes with 40 retain rows each (mean 40: keep
    int(39.2) = 39, under-used below 16): every sample's most-confused class is 1 (45 > 39),
    class 0 is asked for 10 (< 16: recorded before class 1 overflows)."""
    c, n_f = 8, 45
    scores = np.full((n_f, c), 0.001)
    others = [0] * 10 + [2, 3, 4, 5, 6] * 25
    slots = np.array(others).reshape(3, n_f).T  # three further classes per sample
    for i in range(n_f):
        scores[i, 1] = 0.5
        for rank, cls in enumerate(slots[i]):
            scores[i, cls] = 0.3 - 0.1 * rank + 0.001 * (cls + 1)
    return scores, np.full(n_f, 7), np.repeat(np.arange(c), 40), c


def test_natmus_overflow_rule_moves_a_swamped_class_to_an_under_used_one():
    scores, forget_labels, retain_labels, c = _overflowing_scores()
    assert all(len(set(np.argsort(-row)[:4])) == 4 for row in scores)
    pairing = _ours(scores, forget_labels, retain_labels, c, seed=5)
    reference = _natmu_pairing(scores, forget_labels, retain_labels, c, 5)
    assert pairing is not None and pairing.retain.tolist() == reference.tolist()
    used = np.bincount(pairing.label, minlength=c)
    assert used[1] == 39 and used[0] == 10 + 6  # the 6 over 39 went to class 0, the only one recorded
    # The first 39 class-1 slots in hybrid order keep class 1 (natmu.py:106-107).
    first = np.flatnonzero(np.repeat(True, len(pairing.label)) & (np.arange(len(pairing.label)) % 4 == 0))
    assert (pairing.label[first[:39]] == 1).all() and (pairing.label[first[39:]] == 0).all()
    # Without the rule (class-wise natmu.py) class 1 keeps all 45 slots but holds 40 rows: the
    # reference would reshuffle forever, ours falls back.
    assert _ours(scores, forget_labels, retain_labels, c, seed=5, overflow=False) is None


def test_where_natmu_fails_ours_falls_back_to_the_balanced_pairing():
    scores, forget_labels, retain_labels, c = _overflowing_scores()
    # Class 0 asked for 20 (not under-used): no class is recorded when class 1 overflows, and
    # the reference's record.pop() raises.
    scores[:10, 2], scores[:10, 0] = scores[:10, 0], scores[:10, 2]
    scores[10:20, 0] = 0.25
    with pytest.raises(IndexError):
        _natmu_pairing(scores, forget_labels, retain_labels, c, 5)
    assert _ours(scores, forget_labels, retain_labels, c, seed=5) is None
    # Fewer wrong classes than k (the reference's topk fails) and a class without the rows it is
    # asked for (the reference never settles) fall back as well.
    assert _ours(np.array([[0.2, 0.5, 0.3]] * 2), [0, 0], np.repeat([0, 1, 2], 20), 3, seed=0) is None
    tight = _ours(np.tile([0.0, 0.4, 0.3, 0.2, 0.1], (3, 1)), [0] * 3, np.array([1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 4, 0]),
                  5, seed=0)
    assert tight is None  # class 1 asked for 3, holds 2


@pytest.mark.slow
def test_the_run_records_which_pairing_it_used(nws):
    make_forget_set(nws, ForgetSetOptions(model="digits-cnn-s0", kind="per", params={"per": 10}, name="f10"))
    run = _run(nws, "natmu", "f10", 0, steps=1)
    assert nws.read("unlearned", run).summary["pairing"] == "natmu"


# ---- 4. hybrids composed on the fly -------------------------------------------------------


def _hybrid_setup(augment: AugmentSpec | None = None, poisoned: np.ndarray | None = None, n_r: int = 40):
    c, n_f = 5, 6
    labels = np.concatenate([np.arange(n_f) % c, np.arange(n_r) % c])
    split = _split(labels)
    forget_rows, retain_rows = np.arange(n_f), np.arange(n_f, n_f + n_r)
    loader = BatchLoader(split, batch_size=16, mean=MEAN, std=STD, indices=retain_rows, augment=augment,
                         poisoned=poisoned, trigger=Trigger(3) if poisoned is not None else None, seed=7)
    scores = np.random.default_rng(0).random((n_f, c))
    pairing = pair_hybrids(scores, [labels[forget_rows]], retain_rows, labels[retain_rows], c, 4, 0)
    masks = natmu_masks(32, 32, -0.19)
    return split, labels, forget_rows, retain_rows, loader, pairing, masks


def _pixels(split: DeviceSplit, rows, poisoned=None) -> torch.Tensor:
    x = split.images[torch.as_tensor(rows)].float()
    if poisoned is not None:
        x[torch.as_tensor(poisoned[rows]), :, -3:, -3:] = 255.0
    return x


def test_every_hybrid_blends_its_forget_and_retain_images_with_the_retain_label():
    n = 46
    poisoned = np.zeros(n, bool)
    poisoned[[1, 10, 20]] = True  # a forget row and two retain rows carry the trigger
    split, labels, forget_rows, _, loader, pairing, masks = _hybrid_setup(poisoned=poisoned)
    hybrids = Hybrids(loader, forget_rows, pairing, masks)
    assert len(hybrids) == 4 * len(forget_rows)
    x, y, index = hybrids.pixels(torch.arange(len(hybrids)))
    f, r = forget_rows[pairing.forget], pairing.retain
    # A hand transcription of sample-wise/natmu.py:90-92, 114-116, in numpy as there: the
    # masks tiled, the retain part times (1 − M) plus the forget part times M in float32,
    # clipped and cast to uint8 (truncation).
    pattern = masks.numpy()[pairing.mask]
    retain_part = _pixels(split, r, poisoned).numpy().astype(np.float32) * (1 - pattern)
    patch = retain_part + _pixels(split, f, poisoned).numpy().astype(np.float32) * pattern
    expected = np.clip(patch, 0, 255).astype(np.uint8)
    np.testing.assert_array_equal(x.numpy(), expected.astype(np.float32))
    assert (x != x.trunc()).sum() == 0 and (patch != np.floor(patch)).any()  # the truncation mattered
    assert y.tolist() == labels[r].tolist() and index.tolist() == f.tolist()
    assert not (labels[f] == y.numpy()).any()


def test_mixed_source_shuffles_d_r_and_hybrids_together_and_augments_only_d_r():
    split, labels, forget_rows, retain_rows, loader, pairing, masks = _hybrid_setup(
        augment=AugmentSpec(crop_padding=4, flip=True))
    hybrids = Hybrids(loader, forget_rows, pairing, masks)
    source = Mixed(loader, hybrids)
    total = len(retain_rows) + len(hybrids)
    assert len(source) == source.steps_in(3) == math.ceil(total / 16)
    batches = list(source.epoch(0))
    index = torch.cat([b.index for b in batches]).numpy()
    is_hybrid = np.isin(index, forget_rows)
    assert sorted(index[~is_hybrid]) == sorted(retain_rows)  # every retain row once
    assert is_hybrid.sum() == len(hybrids)
    # Mixed as a shuffled concatenation is: hybrids are spread over the batches.
    per_batch = [int(np.isin(b.index.numpy(), forget_rows).sum()) for b in batches]
    assert sum(v > 0 for v in per_batch) >= len(batches) - 1
    # Every hybrid in the batches is exactly one of the composed hybrids (never augmented).
    x_all, y_all, _ = hybrids.pixels(torch.arange(len(hybrids)))
    expected = normalize(x_all, MEAN, STD)
    seen = []
    for b in batches:
        hyb = np.isin(b.index.numpy(), forget_rows)
        for x, y in zip(b.x[torch.as_tensor(hyb)], b.y[torch.as_tensor(hyb)]):
            match = [i for i in range(len(expected)) if torch.equal(expected[i], x)]
            assert len(match) == 1 and int(y_all[match[0]]) == int(y)
            seen.append(match[0])
    assert sorted(seen) == list(range(len(hybrids)))
    # The retain part is augmented: some retain rows differ from their plain image.
    plain = normalize(split.images.float(), MEAN, STD)
    retain_x = torch.cat([b.x[torch.as_tensor(~np.isin(b.index.numpy(), forget_rows))] for b in batches])
    retain_i = torch.cat([b.index[torch.as_tensor(~np.isin(b.index.numpy(), forget_rows))] for b in batches])
    assert any(not torch.equal(x, plain[i]) for x, i in zip(retain_x, retain_i))
    assert all(int(y) == labels[int(i)] for b in batches for y, i in zip(b.y, b.index) if int(i) in retain_rows)


def test_mixed_source_is_a_pure_function_of_the_epoch():
    setup = _hybrid_setup(augment=AugmentSpec(crop_padding=4, flip=True))
    loader, pairing, masks, forget_rows = setup[4], setup[5], setup[6], setup[2]
    first = Mixed(loader, Hybrids(loader, forget_rows, pairing, masks))
    second = Mixed(loader, Hybrids(loader, forget_rows, pairing, masks))
    epoch2 = [b.x for b in first.epoch(2)]
    list(second.epoch(0))
    list(second.epoch(1))
    for a, b in zip(epoch2, second.epoch(2)):
        assert torch.equal(a, b.x)
    assert not torch.equal(torch.cat([b.index for b in first.epoch(0)]), torch.cat([b.index for b in first.epoch(1)]))


class _BiggestTensor(TorchDispatchMode):
    """The largest tensor any torch op produces while active."""

    def __init__(self):
        super().__init__()
        self.nbytes = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for t in out if isinstance(out, (tuple, list)) else [out]:
            if isinstance(t, torch.Tensor):
                self.nbytes = max(self.nbytes, t.nbytes)
        return out


def _hybrid_memory(n_r: int) -> tuple[int, int]:
    """(peak bytes traced while pairing, largest torch tensor while composing every hybrid)."""
    split, labels, forget_rows, retain_rows, loader, _, masks = _hybrid_setup(n_r=n_r)
    scores = np.random.default_rng(0).random((len(forget_rows), 5))
    tracemalloc.start()
    pairing = pair_hybrids(scores, [labels[forget_rows]], retain_rows, labels[retain_rows], 5, 4, 0)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    with _BiggestTensor() as biggest:
        hybrids = Hybrids(loader, forget_rows, pairing, masks)
        for start in range(0, len(hybrids), 8):
            hybrids.pixels(torch.arange(start, min(start + 8, len(hybrids))))
    return peak, biggest.nbytes


def test_building_hybrids_does_not_grow_with_d_r():
    small_peak, small_tensor = _hybrid_memory(200)
    large_peak, large_tensor = _hybrid_memory(3200)
    # Composing: nothing bigger than one batch of 8 float images, whatever |D_r|.
    assert small_tensor == large_tensor == 8 * 3 * 32 * 32 * 4
    # Pairing handles row numbers only: far less than one 32 px image (3072 bytes) per row.
    assert (large_peak - small_peak) / 3000 < 64, (small_peak, large_peak)


# ---- 5./6. recipe, schedule, head -------------------------------------------------------


def _reference_cosine(x, warmup_epoch, epoch, lr_min=0.0, max_lr=0.1, loader_length=0):
    """A hand transcription of NatMU's lr_lambda_cosine (utils/lr_scheduler.py:39-50)."""
    total_steps, warmup_steps, step = epoch * loader_length, warmup_epoch * loader_length, x + 1
    if step < warmup_steps:
        return step / warmup_steps
    if step <= total_steps:
        cos_value = math.cos((step - warmup_steps) / (total_steps - warmup_steps) * math.pi) / 2 + 0.5
        return (cos_value * (max_lr - lr_min) + lr_min) / max_lr
    return lr_min / max_lr


@pytest.mark.parametrize("warmup_epochs", [0, 0.5])
def test_schedule_is_natmus_cosine_under_lambdalr_step_for_step(warmup_epochs):
    steps_per_epoch, epochs, lr = 7, 5, 1e-3
    param = nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.AdamW([param], lr=lr)
    reference = torch.optim.lr_scheduler.LambdaLR(optimizer, functools.partial(
        _reference_cosine, warmup_epoch=warmup_epochs, epoch=epochs, max_lr=lr, loader_length=steps_per_epoch))
    ours = build_schedule(ScheduleSpec("natmu_cosine", warmup_epochs=warmup_epochs), epochs * steps_per_epoch,
                          steps_per_epoch)
    for step in range(epochs * steps_per_epoch):
        assert ours(step) * lr == pytest.approx(optimizer.param_groups[0]["lr"], abs=1e-15), step
        optimizer.step()
        reference.step()
    assert ours(epochs * steps_per_epoch - 1) == pytest.approx(0.0, abs=1e-12)  # the last step runs at lr_min


def test_recipe_and_params():
    spec = METHODS.get("natmu")
    recipe = spec.recipe
    assert recipe.optimizer.name == "adamw" and recipe.optimizer.lr == 1e-3 and recipe.optimizer.weight_decay == 2e-3
    assert recipe.epochs == 5 and recipe.batch_size == 128 and recipe.schedule == ScheduleSpec("natmu_cosine")
    assert NatmuParams() == NatmuParams(delta=-0.19, k_classes=4, init_linear=False)
    for bad in ({"delta": "1.5"}, {"delta": "nan"}, {"k_classes": "5"}, {"k_classes": "0"}):
        with pytest.raises(InputError):
            resolve_params(NatmuParams, bad, "method 'natmu'")


def test_reinit_head_is_xavier_normal_with_relu_gain_and_keeps_the_bias():
    model = nn.Module()
    model.head = nn.Linear(400, 600)
    bias = model.head.bias.detach().clone()
    state = torch.random.get_rng_state()
    reinit_head(model, seed=5)
    assert torch.equal(torch.random.get_rng_state(), state)
    assert torch.equal(model.head.bias, bias)
    std = math.sqrt(2) * math.sqrt(2 / (400 + 600))
    assert float(model.head.weight.detach().std()) == pytest.approx(std, rel=0.02)
    assert float(model.head.weight.detach().mean()) == pytest.approx(0.0, abs=std / 50)
    first = model.head.weight.detach().clone()
    reinit_head(model, seed=5)
    assert torch.equal(first, model.head.weight)


# ---- real runs ----------------------------------------------------------------------------


@pytest.fixture(scope="session")
def natmu_workspace(tmp_path_factory) -> Workspace:
    """digits with the tiny cnn `digits-cnn-s0` (read-only; tests copy it)."""
    ws = prepared(tmp_path_factory.mktemp("natmu") / "ws")
    pretrained(ws)
    return ws


@pytest.fixture
def nws(natmu_workspace, tmp_path) -> Workspace:
    return copy_workspace(natmu_workspace, tmp_path / "ws")


def _forget_accuracy(ws: Workspace, run: str, forget: str) -> float:
    model = load_weights(ws, ws.read("unlearned", run), torch.device("cpu"))
    dataset = ws.read("dataset", "digits")
    split = load_split(ws, dataset, "train")
    view = training_view(ws, ws.read("forget-set", forget), len(split.labels))
    device_split = DeviceSplit.from_numpy(split.images, split.labels, "cpu")
    info = dataset.summary
    loader = BatchLoader(device_split, batch_size=512, mean=info["mean"], std=info["std"], shuffle=False,
                         indices=np.flatnonzero(view.forget))
    logits = predict_logits(model, loader)
    return 100.0 * float((logits.argmax(1).numpy() == view.labels[view.forget]).mean())


def _run(ws: Workspace, method: str, forget: str, seed: int, lr: float | None = None, steps: int | None = None,
         **params) -> str:
    path = unlearn(ws, UnlearnOptions(method=method, forget=forget, seed=seed, device="cpu",
                                      params=params, generic=GenericOptions(lr=lr, steps=steps)))
    return path.stem


def test_confusions_come_from_the_original_model_on_plain_forget_images(nws, monkeypatch):
    import unlearn_cli.methods.natmu as natmu_module

    seen = {}

    real = natmu_module.reference_pairing

    def spy(scores, *args, **kwargs):
        seen["scores"] = scores
        return real(scores, *args, **kwargs)

    monkeypatch.setattr(natmu_module, "reference_pairing", spy)
    make_forget_set(nws, ForgetSetOptions(model="digits-cnn-s0", kind="per", params={"per": 10}, name="f10"))
    # With init_linear the head is re-drawn: the confusions must be taken before that.
    _run(nws, "natmu", "f10", 0, steps=1, init_linear=True)
    dataset = nws.read("dataset", "digits")
    split = load_split(nws, dataset, "train")
    view = training_view(nws, nws.read("forget-set", "f10"), len(split.labels))
    original = load_weights(nws, nws.read("model", "digits-cnn-s0"), torch.device("cpu"))
    x = normalize(torch.from_numpy(split.images[view.forget]).permute(0, 3, 1, 2), dataset.summary["mean"],
                  dataset.summary["std"])
    with torch.no_grad():
        expected = torch.softmax(original.eval()(x), dim=1).double().numpy()
    # The run computes them with the default speed switches: bf16 convolutions on a CPU with
    # native bf16 (a re-drawn head would be off by tenths), exact fp32 elsewhere.
    bf16 = SpeedSwitches.for_device(torch.device("cpu")).amp
    np.testing.assert_allclose(seen["scores"], expected, rtol=1e-5, atol=2e-2 if bf16 else 1e-7)


@pytest.mark.slow
def test_natmu_forget_accuracy_is_closer_to_retrain_than_random_labels(nws):
    # Both fine-tuning methods get lr 0.01: at their defaults (1e-3, 2e-5) five epochs on
    # digits barely move a model that fits D_f at ~100 %, and the comparison would be a tie.
    gaps = {"natmu": [], "random_label": []}
    for seed in range(3):
        forget = f"f10-s{seed}"
        make_forget_set(nws, ForgetSetOptions(model="digits-cnn-s0", kind="per", params={"per": 10}, seed=seed,
                                              name=forget))
        reference = _forget_accuracy(nws, _run(nws, "retrain", forget, seed), forget)
        for method in gaps:
            fa = _forget_accuracy(nws, _run(nws, method, forget, seed, lr=0.01), forget)
            gaps[method].append(abs(fa - reference))
    assert np.mean(gaps["natmu"]) < np.mean(gaps["random_label"]), gaps


@pytest.mark.slow
def test_class_forgetting_with_init_linear_drives_forget_accuracy_below_10(nws):
    make_forget_set(nws, ForgetSetOptions(model="digits-cnn-s0", kind="class", params={"target": "3"}, name="c3"))
    run = _run(nws, "natmu", "c3", 0, init_linear=True)
    manifest = nws.read("unlearned", run)
    assert manifest.config["params"] == {"delta": -0.19, "k_classes": 4, "init_linear": True, "reassign_overflow": True}
    assert manifest.summary["hybrids"] == 4 * manifest.summary["forget_size"]
    assert manifest.summary["reused_retain_rows"] == 0
    assert _forget_accuracy(nws, run, "c3") < 10


def _files(ws: Workspace) -> set[Path]:
    return {p.relative_to(ws.root) for p in Path(ws.root).rglob("*") if p.is_file()}


def test_no_class_to_pair_with_is_one_line_error_and_leaves_nothing(cli, nws, tmp_path):
    cli.workspace = nws
    labels = load_split(nws, nws.read("dataset", "digits"), "train").labels
    # D_f: every row not of class 0, and one row of class 0; D_r: only class 0 remains.
    rows = np.concatenate([np.flatnonzero(labels != 0), np.flatnonzero(labels == 0)[:1]])
    np.save(tmp_path / "rows.npy", rows)
    assert cli("make-forget-set", "--model", "digits-cnn-s0", "--indices", str(tmp_path / "rows.npy"),
               "--name", "only0").exit_code == 0
    before = _files(nws)
    result = cli("unlearn", "--method", "natmu", "--forget", "only0")
    assert_one_line_error(result, "natmu cannot pair 1 forget sample(s) of class 0", "D_r holds only 0")
    assert _files(nws) == before


@pytest.mark.slow
def test_natmu_runs_from_the_cli_on_a_cifar10_format_fixture(cli, tmp_path):
    from tests.fixtures.formats import write_cifar10

    source = write_cifar10(tmp_path / "src", per_batch=8)
    assert cli("prepare-data", "--dataset", "cifar10", "--source", str(source)).exit_code == 0
    result = cli("pretrain", "--dataset", "cifar10", "--model", "resnet18", "--width", "0.125", "--steps", "5",
                 "--device", "cpu", "--name", "c10")
    assert result.exit_code == 0, result.stderr
    assert cli("make-forget-set", "--model", "c10", "--fraction", "0.2", "--name", "c10f").exit_code == 0
    result = cli("unlearn", "--method", "natmu", "--forget", "c10f", "--epochs", "1", "--batch-size", "8",
                 "--device", "cpu")
    assert result.exit_code == 0, result.stderr
    manifest = cli.workspace.read("unlearned", Path(result.stdout.strip()).stem)
    summary = manifest.summary
    assert summary["hybrids"] == 4 * summary["forget_size"] and summary["forget_size"] > 0
    assert manifest.config["training"]["augment"] is True
    assert summary["steps"] == math.ceil((summary["retain_size"] + summary["hybrids"]) / 8)
