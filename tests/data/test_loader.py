"""The on-device batch loader: order, determinism, subsets, labels, trigger, DDP slices."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tests.data.helpers import make_split
from unlearn_cli.data.augment import AugmentSpec
from unlearn_cli.data.loader import Batch, BatchLoader, DeviceSplit
from unlearn_cli.data.trigger import Trigger
from unlearn_cli.errors import DataError, InputError

MEAN = [0.0, 0.0, 0.0]
STD = [1.0, 1.0, 1.0]
AUG = AugmentSpec(crop_padding=2, flip=True)


def _loader(split: DeviceSplit, **kw) -> BatchLoader:
    kw.setdefault("batch_size", 4)
    kw.setdefault("mean", MEAN)
    kw.setdefault("std", STD)
    return BatchLoader(split, **kw)


def _cat(batches: list[Batch]) -> Batch:
    return Batch(
        x=torch.cat([b.x for b in batches]),
        y=torch.cat([b.y for b in batches]),
        index=torch.cat([b.index for b in batches]),
    )


def _same(a: list[Batch], b: list[Batch]) -> bool:
    return len(a) == len(b) and all(
        torch.equal(p.x, q.x) and torch.equal(p.y, q.y) and torch.equal(p.index, q.index)
        for p, q in zip(a, b)
    )


def test_from_numpy_moves_nhwc_to_nchw() -> None:
    split, images, labels = make_split(n=5)
    assert split.images.shape == (5, 3, 6, 6) and split.images.dtype == torch.uint8
    assert torch.equal(split.images, torch.from_numpy(images).permute(0, 3, 1, 2))
    assert split.labels.dtype == torch.int64 and split.labels.tolist() == labels.tolist()
    assert len(split) == 5


def test_from_numpy_accepts_read_only_arrays() -> None:
    _, images, labels = make_split(n=3)
    images.setflags(write=False)
    split = DeviceSplit.from_numpy(images, labels, "cpu")
    assert torch.equal(split.images, torch.from_numpy(images.copy()).permute(0, 3, 1, 2))


def test_unshuffled_evaluation_yields_rows_in_order_with_last_partial_batch() -> None:
    split, images, labels = make_split(n=10)
    loader = _loader(split, shuffle=False, batch_size=4)
    batches = list(loader.epoch(0))
    assert len(loader) == 3 and [len(b.index) for b in batches] == [4, 4, 2]
    all_ = _cat(batches)
    assert all_.index.tolist() == list(range(10))
    assert all_.y.tolist() == labels.tolist()
    expected = torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255
    assert torch.equal(all_.x, expected)


def test_drop_last_gives_only_full_batches() -> None:
    split = make_split(n=10)[0]
    loader = _loader(split, batch_size=4, drop_last=True)
    batches = list(loader.epoch(0))
    assert len(loader) == 2 and [len(b.index) for b in batches] == [4, 4]


def test_same_seed_and_epoch_give_identical_batches() -> None:
    split = make_split()[0]
    a = _loader(split, augment=AUG, seed=7)
    first = list(a.epoch(3))
    list(a.epoch(4))  # epochs run before must not matter
    again = list(a.epoch(3))
    fresh = list(_loader(split, augment=AUG, seed=7).epoch(3))
    assert _same(first, again) and _same(first, fresh)


def test_different_epoch_or_seed_changes_the_permutation() -> None:
    split = make_split(n=20)[0]
    loader = _loader(split)
    e0 = _cat(list(loader.epoch(0))).index
    e1 = _cat(list(loader.epoch(1))).index
    other_seed = _cat(list(_loader(split, seed=1).epoch(0))).index
    assert not torch.equal(e0, e1) and not torch.equal(e0, other_seed)
    assert sorted(e0.tolist()) == sorted(e1.tolist()) == list(range(20))


def test_batch_at_matches_the_epoch_iterator() -> None:
    split = make_split()[0]
    loader = _loader(split, augment=AUG, seed=2)
    batches = list(loader.epoch(5))
    list(loader.epoch(6))
    resumed = BatchLoader(split, batch_size=4, mean=MEAN, std=STD, augment=AUG, seed=2)
    for step in (3, 0, len(batches) - 1):
        assert _same([resumed.batch_at(5, step)], [batches[step]])


def test_subset_rows_appear_exactly_once_and_others_never() -> None:
    split = make_split(n=20)[0]
    subset = np.array([17, 3, 8, 11, 0, 19, 5])
    loader = _loader(split, indices=subset, batch_size=3, augment=AUG)
    for epoch in range(3):
        seen = _cat(list(loader.epoch(epoch))).index.tolist()
        assert sorted(seen) == sorted(subset.tolist())
    assert len(loader) == 3


def test_unshuffled_subset_keeps_given_order_and_bool_mask_works() -> None:
    split = make_split(n=8)[0]
    given = [_cat(list(_loader(split, indices=torch.tensor([5, 1, 6]), shuffle=False).epoch(0)))]
    assert given[0].index.tolist() == [5, 1, 6]
    mask = torch.zeros(8, dtype=torch.bool)
    mask[[2, 7]] = True
    masked = _cat(list(_loader(split, indices=mask, shuffle=False).epoch(0)))
    assert masked.index.tolist() == [2, 7]


def test_label_override_is_used() -> None:
    split, _, labels = make_split(n=12)
    override = (labels + 1) % 10
    batches = list(_loader(split, labels=override).epoch(0))
    for b in batches:
        assert b.y.tolist() == override[b.index.numpy()].tolist()
        assert b.y.dtype == torch.int64


@pytest.mark.parametrize("augment", [None, AUG], ids=["plain", "augmented"])
def test_trigger_exactly_on_poisoned_rows_at_fixed_position(augment) -> None:
    split = make_split(n=16, high=200)[0]  # clean pixels never reach 255
    poisoned = np.zeros(16, dtype=bool)
    poisoned[[1, 4, 9, 15]] = True
    loader = _loader(split, poisoned=poisoned, trigger=Trigger(patch_size=2), augment=augment)
    for epoch in range(2):
        for b in loader.epoch(epoch):
            is_max = b.x == 1.0  # 255/255 with mean 0, std 1
            rows_poisoned = torch.from_numpy(poisoned)[b.index]
            expected = torch.zeros_like(is_max)
            expected[rows_poisoned, :, -2:, -2:] = True
            assert torch.equal(is_max, expected)


def test_trigger_value_is_in_pixel_units_before_normalisation() -> None:
    split = make_split(n=4)[0]
    mean, std = [0.5, 0.4, 0.3], [0.2, 0.25, 0.5]
    loader = _loader(
        split, mean=mean, std=std, shuffle=False, poisoned=np.ones(4, dtype=bool),
        trigger=Trigger(patch_size=1, value=102.0),
    )
    x = next(loader.epoch(0)).x
    expected = (102.0 / 255 - torch.tensor(mean)) / torch.tensor(std)
    assert torch.allclose(x[:, :, -1, -1], expected.expand(4, 3), atol=1e-6)


def test_normalisation_matches_formula() -> None:
    split, images, _ = make_split(n=6)
    mean, std = [0.1, 0.2, 0.3], [0.3, 0.2, 0.1]
    x = _cat(list(_loader(split, mean=mean, std=std, shuffle=False).epoch(0))).x
    raw = torch.from_numpy(images).permute(0, 3, 1, 2).float()
    expected = (raw / 255 - torch.tensor(mean).view(1, 3, 1, 1)) / torch.tensor(std).view(1, 3, 1, 1)
    assert torch.allclose(x, expected, atol=1e-6)


@pytest.mark.parametrize(("n", "drop_last"), [(16, False), (14, False), (14, True)])
def test_two_ranks_together_equal_the_single_process_batch(n: int, drop_last: bool) -> None:
    split = make_split(n=n)[0]
    poisoned = np.arange(n) % 3 == 0
    common = dict(
        batch_size=4, augment=AUG, seed=11, drop_last=drop_last,
        poisoned=poisoned, trigger=Trigger(patch_size=2),
    )
    single = _loader(split, **common)
    ranks = [_loader(split, rank=r, world_size=2, **common) for r in range(2)]
    assert len(ranks[0]) == len(ranks[1]) == len(single)
    for whole, part0, part1 in zip(single.epoch(1), ranks[0].epoch(1), ranks[1].epoch(1)):
        assert len(part0.index) == len(whole.index) // 2
        assert _same([_cat([part0, part1])], [whole])


def test_channels_last_flag_sets_memory_format() -> None:
    split = make_split(n=4)[0]
    on = next(_loader(split, channels_last=True, augment=AUG).epoch(0)).x
    off = next(_loader(split, channels_last=False, augment=AUG).epoch(0)).x
    assert on.is_contiguous(memory_format=torch.channels_last)
    assert not on.is_contiguous()
    assert off.is_contiguous()
    assert torch.equal(on, off)


# What a user can cause — a batch that does not split over the ranks, a trigger larger than
# the images, normalisation statistics from a manifest — is a user error; rows, labels and
# masks the steps build themselves are internal contracts (ValueError: shown as a bug).
@pytest.mark.parametrize(
    ("kwargs", "match", "error"),
    [
        (dict(batch_size=6, world_size=4), "batch size 6", InputError),
        (dict(rank=2, world_size=2), "rank 2", ValueError),
        (dict(batch_size=0), "batch size 0", ValueError),
        (dict(indices=np.array([0, 20])), "index 20", ValueError),
        (dict(indices=np.array([-1, 2])), "index -1", ValueError),
        (dict(indices=np.array([3, 3])), "duplicate", ValueError),
        (dict(indices=np.array([], dtype=np.int64)), "no rows", ValueError),
        (dict(indices=np.array([0.5])), "float", ValueError),
        (dict(labels=np.zeros(19, dtype=np.int64)), "19 entries", ValueError),
        (dict(poisoned=np.zeros(19, dtype=bool), trigger=Trigger()), "19 entries", ValueError),
        (dict(poisoned=np.zeros(20, dtype=np.int64), trigger=Trigger()), "bool", ValueError),
        (dict(poisoned=np.zeros(20, dtype=bool)), "without a trigger", ValueError),
        (dict(poisoned=np.zeros(20, dtype=bool), trigger=Trigger(patch_size=7)), "patch size 7", InputError),
        (dict(mean=[0.5, 0.5]), "mean has 2 values", InputError),
        (dict(std=[1.0, 0.0, 1.0]), "std", InputError),
    ],
)
def test_bad_arguments_name_the_offending_value(kwargs: dict, match: str, error: type) -> None:
    split = make_split(n=20)[0]
    with pytest.raises(error, match=match) as raised:
        _loader(split, **kwargs)
    assert isinstance(raised.value, InputError) == (error is InputError)


def test_batch_at_out_of_range_and_bad_trigger() -> None:
    loader = _loader(make_split(n=8)[0])
    with pytest.raises(ValueError, match="step 2"):
        loader.batch_at(0, 2)
    with pytest.raises(ValueError, match="epoch -1"):
        loader.batch_at(-1, 0)
    with pytest.raises(InputError, match="patch size 0"):
        Trigger(patch_size=0)
    with pytest.raises(InputError, match="300"):
        Trigger(value=300.0)


def test_device_split_rejects_bad_arrays() -> None:
    _, images, labels = make_split(n=4)
    with pytest.raises(DataError, match="uint8"):
        DeviceSplit.from_numpy(images.astype(np.float32), labels, "cpu")
    with pytest.raises(DataError, match=r"\(4, 6, 6\)"):
        DeviceSplit.from_numpy(images[..., 0], labels, "cpu")
    with pytest.raises(DataError, match="3 labels"):
        DeviceSplit.from_numpy(images, labels[:3], "cpu")
    with pytest.raises(DataError, match="negative value -1"):
        DeviceSplit.from_numpy(images, np.array([0, 1, -1, 2]), "cpu")
