"""`natmu` (He et al., NatMU; docs/methods.md): fine-tune on D_r ∪ "natural" hybrids that blend
each forget image with real retain images of the classes the original model confuses it with.

1. Four soft masks over the image (`natmu_masks`): a tent over rows, over columns, and the two
   inverted tents, each shifted by δ and clipped to [0, 1].
2. The original model's softmax on D_f (eval mode, un-augmented) with the sample's own class
   zeroed ranks its wrong classes; the first K = 4 are its most-confused classes c_1..c_K.
3. Every (forget sample, c_k) is paired with a distinct retain row of class c_k.
   `reference_pairing` does it as NatMU does, with numpy's legacy generator seeded by the
   run's seed as its `seed_everything` seeds it: the demand of a class above 98 % of the mean
   retain rows per class moves to a random under-used class (`reassign_overflow`), then a
   random permutation of D_r is reshuffled until every hybrid sits on a row of its class.
   Where NatMU would not terminate (no under-used class to move overflow to, a class asked
   for more rows than it has, or a permutation that does not settle), `pair_hybrids` balances
   demand against what each class has and always terminates (see its docstring).
4. Hybrid_k = M_k ⊙ x_f + (1 − M_k) ⊙ x_r, labelled c_k, blended in float32 pixel values and
   truncated to integers as NatMU's `astype(np.uint8)` does: K·|D_f| of them, kept as
   (forget row, retain row, mask) triples and composed per batch on the device (`Hybrids`).
5. Fine-tune with CE on D_r (augmented as --augment says) ∪ the hybrids (never augmented),
   shuffled together (`train.sources.Mixed`); AdamW with NatMU's per-step cosine.
6. `init_linear=true` (class-wise forgetting) re-draws the head's weight, Xavier normal with
   gain √2, before fine-tuning; its bias stays.

Reference: ZhengbaoHe/NatMU sample-wise/natmu.py, class-wise/natmu.py,
sample-wise/utils/generate_patch_data.py, utils/lr_scheduler.py.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn

from unlearn_cli.data.loader import BatchLoader
from unlearn_cli.errors import InputError
from unlearn_cli.methods.base import Unlearned, adam, register_method
from unlearn_cli.methods.common import reinit_head
from unlearn_cli.methods.context import UnlearnContext, derive_seed
from unlearn_cli.space import integers, log_uniform, uniform
from unlearn_cli.train.inference import predict_logits
from unlearn_cli.train.objectives import cross_entropy
from unlearn_cli.train.schedules import ScheduleSpec
from unlearn_cli.train.sources import Mixed, loader_pixels

log = logging.getLogger(__name__)

NUM_MASKS = 4  # the reference's four patterns; hybrid k of a forget sample uses mask k


@dataclass(frozen=True)
class NatmuParams:
    delta: float = -0.19  # δ added to every mask value before clipping to [0, 1]
    k_classes: int = NUM_MASKS  # K: most-confused classes (= hybrids) per forget sample
    init_linear: bool = False  # re-initialise the head first (class-wise forgetting)
    # Move a class's demand above 98 % of the mean retain rows per class to an under-used
    # class, as sample-wise/natmu.py:97-107 does; class-wise/natmu.py has no such step.
    reassign_overflow: bool = True

    def __post_init__(self) -> None:
        if not (math.isfinite(self.delta) and -1.0 < self.delta < 1.0):
            raise InputError(f"natmu delta={self.delta} is outside (-1, 1): every mask would be constant",
                             hint="e.g. --param delta=-0.19")
        if not 1 <= self.k_classes <= NUM_MASKS:
            raise InputError(f"natmu k_classes={self.k_classes} is outside 1..{NUM_MASKS} (one mask per class)",
                             hint="e.g. --param k_classes=4")


# ---- 1. the masks ------------------------------------------------------------------------


def _tent(size: int) -> np.ndarray:
    """0 at both edges, rising by 1/(size/2) per pixel towards the centre: for even sizes the
    reference's `j/b` then `(b-1)/b - j/b` halves (generate_patch_data.py:8-20, b = size/2)."""
    t = np.arange(size, dtype=np.float64)
    return np.minimum(t, size - 1 - t) / (size / 2)


def natmu_masks(height: int, width: int, delta: float) -> Tensor:
    """The four masks (4, 1, H, W), float32 in [0, 1]: tent over rows, tent over columns, and
    the inverted tents (max − tent: high at the edges, 0 at the centre); then clip(M + δ, 0, 1).
    The reference repeats each over the 3 channels; one channel broadcasts the same. As there,
    the tents are stored in float32 before δ is added in float32 (generate_patch_data.py:5,
    21), so every mask value is bit-identical to the reference's."""
    rows, cols = _tent(height), _tent(width)
    masks = np.zeros((NUM_MASKS, 1, height, width), dtype=np.float32)
    masks[0, 0] = rows[:, None]
    masks[1, 0] = cols[None, :]
    masks[2, 0] = (rows.max() - rows)[:, None]
    masks[3, 0] = (cols.max() - cols)[None, :]
    return torch.from_numpy(np.clip(masks + np.float32(delta), np.float32(0), np.float32(1)))


# ---- 2. the most-confused classes ----------------------------------------------------------


def confusion_scores(model: nn.Module, loader: BatchLoader, *, amp: bool = False) -> np.ndarray:
    """The model's softmax over every row of an un-shuffled, un-augmented `loader`, in
    order, computed in eval mode (the reference's select_patch_class, natmu.py:51-63);
    `amp`: the run's bf16 speed switch for the forward passes."""
    return torch.softmax(predict_logits(model, loader, amp=amp), dim=1).double().numpy()


def class_ranking(scores: np.ndarray, excluded: list[np.ndarray], usable: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per forget sample, its candidate classes most-confused first, and how many it has.

    A class is a candidate unless it is one of the sample's `excluded` classes (its own: the
    reference zeroes the true class, natmu.py:58-60) or has no retain rows (`usable` False):
    such a class is skipped, so the sample falls back to its next most-confused class.
    Ties keep the lower class index first."""
    n, c = scores.shape
    masked = scores.copy()
    for labels in excluded:
        masked[np.arange(n), labels] = -np.inf
    masked[:, ~usable] = -np.inf
    order = np.argsort(-masked, axis=1, kind="stable")
    return order, np.isfinite(masked).sum(axis=1)


# ---- 3. the pairing ----------------------------------------------------------------------

# How many reshuffles `reference_pairing` allows before it calls the permutation unsettled: the
# reference loops until every hybrid sits on a row of its class, which near a class's capacity
# can take thousands of rounds (each a permutation of the free rows), and forever past it.
MAX_RESHUFFLES = 20_000


def top_confused(scores: np.ndarray, own: list[np.ndarray], k: int) -> np.ndarray:
    """(n_f, k) the k most-confused classes of every forget sample, most-confused first: the
    reference's `torch.topk(softmax * mask, k)` with each sample's own classes zeroed
    (natmu.py:51-63), computed the same way so ties resolve as there."""
    probs = torch.from_numpy(np.asarray(scores, dtype=np.float32)).clone()
    rows = torch.arange(len(probs))
    for labels in own:
        probs[rows, torch.from_numpy(np.asarray(labels, dtype=np.int64))] = 0
    return torch.topk(probs, k=k, dim=1)[1].numpy().astype(np.int64)


def reassign_overflow(labels: np.ndarray, n_retain: int, num_classes: int,
                      rng: np.random.RandomState) -> np.ndarray | None:
    """NatMU's sample-wise overflow rule (natmu.py:97-107), transcribed: classes in index
    order; a class asked for fewer than 0.4 × (|D_r| / C) hybrids is recorded as under-used;
    one asked for more than int(0.98 × |D_r| / C) keeps that many (its first ones, in hybrid
    order) and gives the rest to an under-used class popped from the shuffled record. None
    where the reference fails: an overflow with no under-used class recorded yet."""
    labels = labels.copy()
    mean_rows = n_retain / num_classes
    keep = int(mean_rows * 0.98)
    record: list[int] = []
    for c in range(num_classes):
        asked = int((labels == c).sum())
        if asked < mean_rows * 0.4:
            record.append(c)
        if asked > keep:
            if not record:
                return None  # the reference's record.pop() raises IndexError here
            rng.shuffle(record)
            other = record.pop()
            labels[labels == c] = np.array([c] * keep + [other] * (asked - keep))
    return labels


def settle_permutation(retain_labels: np.ndarray, labels: np.ndarray, rng: np.random.RandomState,
                       max_rounds: int = MAX_RESHUFFLES) -> np.ndarray | None:
    """NatMU's `get_random_idx_of_retainData_from_randomLabel` (natmu.py:65-75), transcribed:
    a random permutation of D_r whose first len(labels) positions are reshuffled, all but
    those already on a row of their hybrid's class, until every one is. Positions into D_r,
    or None if it has not settled after `max_rounds` reshuffles."""
    order = rng.permutation(len(retain_labels))
    length = len(labels)
    settled = retain_labels[order[:length]] == labels
    rounds = 0
    while settled.sum() < length:
        if rounds == max_rounds:
            return None
        fixed = np.isin(np.arange(len(order)), np.nonzero(settled)[0])
        order[~fixed] = rng.permutation(order[~fixed])
        settled = retain_labels[order[:length]] == labels
        rounds += 1
    return order[:length]


def reference_pairing(scores: np.ndarray, own: list[np.ndarray], retain_rows: np.ndarray,
                      retain_labels: np.ndarray, num_classes: int, k: int, seed: int,
                      overflow: bool = True) -> Pairing | None:
    """The pairing NatMU makes with `--seed seed`: the k most-confused classes of each forget
    sample, the overflow rule (if `overflow`), then the settled permutation, drawing from
    numpy's legacy generator seeded by `seed` in the reference's order (its first numpy draws
    after seed_everything). None where the reference would not terminate."""
    if k > num_classes - 1:
        return None  # fewer wrong classes than hybrids per sample: the reference's topk fails
    rng = np.random.RandomState(seed)
    top = top_confused(scores, own, k)
    if any((top == labels[:, None]).any() for labels in own):
        return None  # a zero-probability tie put a sample's own class among its k
    labels = top.reshape(-1)
    if overflow:
        labels = reassign_overflow(labels, len(retain_labels), num_classes, rng)
        if labels is None:
            return None
    asked = np.bincount(labels, minlength=num_classes)
    if (asked > np.bincount(retain_labels, minlength=num_classes)).any():
        return None  # the reference would reshuffle forever
    positions = settle_permutation(retain_labels, labels, rng)
    if positions is None:
        return None
    n_f = len(scores)
    return Pairing(forget=np.repeat(np.arange(n_f), k), retain=retain_rows[positions],
                   mask=np.tile(np.arange(k), n_f), label=retain_labels[positions], reused=0)


@dataclass(frozen=True)
class Pairing:
    """K hybrids per forget sample, hybrid h = i·K + k of forget sample i using mask k (the
    reference's np.repeat/np.tile order, natmu.py:90-92)."""

    forget: np.ndarray  # int64 (n_f·K,) positions into the forget rows
    retain: np.ndarray  # int64 (n_f·K,) split rows of the paired retain samples
    mask: np.ndarray  # int64 (n_f·K,) mask ids
    label: np.ndarray  # int64 (n_f·K,) the paired retain row's class
    reused: int  # hybrids whose retain row serves an earlier hybrid too (D_r too small)


def _next_candidate(order: np.ndarray, valid: np.ndarray, capacity: np.ndarray, samples: np.ndarray,
                    start: np.ndarray, cyclic: bool) -> np.ndarray:
    """For each of `samples`, the first position ≥ start (cyclically if `cyclic`) in its
    candidate list whose class still has capacity; -1 where none has."""
    width = order.shape[1]
    steps = np.arange(width)
    n_valid = valid[samples][:, None]
    if cyclic:
        positions = (start[samples][:, None] + steps) % np.maximum(n_valid, 1)
        in_list = steps < n_valid
    else:
        positions = np.minimum(start[samples][:, None] + steps, width - 1)
        in_list = start[samples][:, None] + steps < n_valid
    open_ = in_list & (capacity[order[samples[:, None], positions]] > 0)
    first = open_.argmax(axis=1)
    return np.where(open_.any(axis=1), positions[np.arange(len(samples)), first], -1)


def _fill_slot(order: np.ndarray, valid: np.ndarray, capacity: np.ndarray, samples: np.ndarray,
               pointer: np.ndarray, rng: np.random.Generator, cyclic: bool) -> tuple[np.ndarray, np.ndarray]:
    """One slot for each of `samples`: each proposes its next candidate class with capacity;
    a class takes as many proposers as it has rows left, in a seeded random order, and the
    others move on to their next candidate (the full class is skipped from then on). Every
    round either places a proposer or fills a class, so this ends within C + 1 rounds.
    Returns the samples placed and their classes; advances `pointer` and `capacity`."""
    placed, classes = [], []
    pending = samples
    while pending.size:
        position = _next_candidate(order, valid, capacity, pending, pointer, cyclic)
        pending, position = pending[position >= 0], position[position >= 0]
        if not pending.size:
            break
        wanted = order[pending, position]
        by_class = np.lexsort((rng.random(len(pending)), wanted))
        first_of_class = np.searchsorted(wanted[by_class], wanted[by_class], side="left")
        rank = np.empty(len(pending), dtype=np.int64)
        rank[by_class] = np.arange(len(pending)) - first_of_class
        accept = rank < capacity[wanted]
        np.subtract.at(capacity, wanted[accept], 1)
        width = np.maximum(valid[pending[accept]], 1)
        pointer[pending[accept]] = (position[accept] + 1) % width if cyclic else position[accept] + 1
        pointer[pending[~accept]] = position[~accept]
        placed.append(pending[accept])
        classes.append(wanted[accept])
        pending = pending[~accept]
    if not placed:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    return np.concatenate(placed), np.concatenate(classes)


def assign_classes(order: np.ndarray, valid: np.ndarray, counts: np.ndarray, k: int,
                   rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """The class of every hybrid slot (n_f, k), and which slots reuse rows (n_f, k) bool.

    A. Slot by slot (all samples' 1st slot, then all 2nd, …), each sample takes its most-
       confused class not yet taken and with rows left; a class full of earlier or luckier
       proposers passes a sample on to its next most-confused class. So no class is asked
       for more rows than it has, overflow spreads along each sample's own ranking instead
       of landing on one class, the most-confused pairs are placed first, and class-
       imbalanced (hardest) sets that swamp one class still get their K hybrids.
    B. If a sample ran out of distinct classes with rows left (fewer than K usable classes),
       its remaining slots take classes again, cycling through its ranking, while rows last.
    C. If D_r has no rows left for a slot at all (K·|D_f| exceeds what its classes hold),
       the slot cycles through the sample's ranking and reuses rows (`reused` True).
    """
    n = len(order)
    capacity = counts.astype(np.int64).copy()
    slot_class = np.full((n, k), -1, dtype=np.int64)
    pointer = np.zeros(n, dtype=np.int64)
    for slot in range(k):  # A
        placed, classes = _fill_slot(order, valid, capacity, np.arange(n), pointer, rng, cyclic=False)
        slot_class[placed, slot] = classes
    pointer[:] = 0
    for slot in range(k):  # B
        placed, classes = _fill_slot(order, valid, capacity, np.flatnonzero(slot_class[:, slot] < 0),
                                     pointer, rng, cyclic=True)
        slot_class[placed, slot] = classes
    reused = slot_class < 0
    for i in np.flatnonzero(reused.any(axis=1)):  # C: only when D_r is exhausted
        open_slots = np.flatnonzero(reused[i])
        slot_class[i, open_slots] = order[i, np.arange(len(open_slots)) % valid[i]]
    return slot_class, reused


def pair_hybrids(scores: np.ndarray, forget_labels: list[np.ndarray], retain_rows: np.ndarray,
                 retain_labels: np.ndarray, num_classes: int, k: int, seed: int) -> Pairing:
    """Pair every (forget sample, most-confused class) with a retain row of that class.

    `scores` (n_f, C): the original model's softmax on D_f; `forget_labels`: each forget
    sample's own classes, excluded from its candidates; `retain_rows`/`retain_labels`: D_r.
    Classes are assigned by `assign_classes`; then every class hands its slots distinct rows
    from a seeded shuffle of its retain rows (cycling only for `reused` slots). Deterministic
    in `seed`; it always terminates. Nothing here is an image: O(|D_f|·C + |D_r|) integers.
    """
    counts = np.bincount(retain_labels, minlength=num_classes)
    order, valid = class_ranking(scores, forget_labels, counts > 0)
    if (valid == 0).any():
        raise AssertionError("check_pairable must run first")
    rng = np.random.default_rng(seed)
    slot_class, reused = assign_classes(order, valid, counts, k, rng)
    # Retain rows grouped by class, each group in a seeded random order.
    shuffled = rng.permutation(len(retain_rows))
    grouped = shuffled[np.argsort(retain_labels[shuffled], kind="stable")]
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    label, is_reused = slot_class.reshape(-1), reused.reshape(-1)
    # Slots of a class take its rows in turn: first the distinct ones, reused slots after.
    by_class = np.lexsort((np.arange(len(label)), is_reused, label))
    first = np.searchsorted(label[by_class], label[by_class], side="left")
    turn = np.empty(len(label), dtype=np.int64)
    turn[by_class] = np.arange(len(label)) - first
    picked = grouped[starts[label] + turn % counts[label]]
    n_f = len(scores)
    return Pairing(forget=np.repeat(np.arange(n_f), k), retain=retain_rows[picked],
                   mask=np.tile(np.arange(k), n_f), label=label, reused=int(is_reused.sum()))


def check_pairable(forget_labels: list[np.ndarray], retain_labels: np.ndarray, num_classes: int,
                   class_names: list[str]) -> None:
    """Every forget sample needs a retain row of some class other than its own."""
    counts = np.bincount(retain_labels, minlength=num_classes)
    other = np.full(len(forget_labels[0]), counts.sum())
    for labels in forget_labels:
        other = other - counts[labels]
    # A sample whose true and training labels differ excludes both classes.
    if len(forget_labels) > 1:
        same = forget_labels[0] == forget_labels[1]
        other = other + np.where(same, counts[forget_labels[0]], 0)
    stuck = np.flatnonzero(other <= 0)
    if stuck.size:
        classes = sorted({class_names[c] for c in forget_labels[0][stuck]})
        held = [class_names[c] for c in np.flatnonzero(counts)]
        raise InputError(f"natmu cannot pair {stuck.size} forget sample(s) of class {', '.join(classes)} with a "
                         f"retain sample of another class: D_r holds only {', '.join(held)}",
                         hint="natmu blends each forget image with retain images of other classes; "
                         "use a forget set that leaves other classes in D_r, or another method")


# ---- 4. the hybrids, composed per batch ---------------------------------------------------


class Hybrids:
    """The K·|D_f| hybrids as (forget row, retain row, mask) triples on the device; `pixels`
    composes any of them from the loader's un-augmented pixels (triggers included on poisoned
    rows, so a hybrid blends exactly the images the view defines) as NatMU does in uint8
    pixel space (natmu.py:114-116): x_r·(1 − M) + x_f·M in float32, in that order, clipped
    and truncated to an integer. A hybrid is reported under its forget row."""

    def __init__(self, loader: BatchLoader, forget_rows: np.ndarray, pairing: Pairing, masks: Tensor) -> None:
        device = loader.device
        self.loader = loader
        self.forget = torch.as_tensor(forget_rows[pairing.forget], device=device)
        self.retain = torch.as_tensor(pairing.retain, device=device)
        self.mask = torch.as_tensor(pairing.mask, device=device)
        self.label = torch.as_tensor(pairing.label, device=device)
        self.masks = masks.to(device)

    def __len__(self) -> int:
        return int(self.forget.shape[0])

    def pixels(self, ids: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        forget, retain = self.forget[ids], self.retain[ids]
        m = self.masks[self.mask[ids]]
        x = loader_pixels(self.loader, retain) * (1 - m) + loader_pixels(self.loader, forget) * m
        return x.clamp(0, 255).trunc(), self.label[ids], forget


# ---- 5./6. the method --------------------------------------------------------------------


@register_method(
    "natmu",
    description="fine-tune on augmented D_r ∪ K·|D_f| hybrids M_k*x_f + (1-M_k)*x_r of each forget image with "
    "a retain image of its k-th most-confused class (labelled so); AdamW, per-step cosine",
    params=NatmuParams,
    recipe=adam(1e-3, weight_decay=2e-3, decoupled=True, epochs=5, schedule=ScheduleSpec("natmu_cosine")),
    reference="ZhengbaoHe/NatMU sample-wise/natmu.py, class-wise/natmu.py, utils/generate_patch_data.py",
    space={"lr": log_uniform(1e-4, 1e-2), "epochs": integers(1, 10), "delta": uniform(-0.5, 0.2)},
)
def natmu(ctx: UnlearnContext, params: NatmuParams) -> Unlearned:
    view, forget_rows, retain_rows = ctx.view, ctx.forget_rows, ctx.retain_rows
    # A sample's own classes: its true label and, where a manipulation changed it, the label
    # it was trained with (a hybrid labelled with the poison target would teach the poison).
    own = [view.labels[forget_rows]]
    if not np.array_equal(view.train_label[forget_rows], own[0]):
        own.append(view.train_label[forget_rows])
    retain_labels = view.train_label[retain_rows]
    check_pairable(own, retain_labels, ctx.num_classes, ctx.info.class_names)

    scores = confusion_scores(ctx.model, ctx.eval_loader(forget_rows), amp=ctx.switches.amp)
    pairing = reference_pairing(scores, own, retain_rows, retain_labels, ctx.num_classes, params.k_classes,
                                ctx.seed, overflow=params.reassign_overflow)
    rule = "natmu"
    if pairing is None:
        rule = "balanced"
        log.info("natmu: NatMU's pairing would not terminate on this forget set; balancing demand instead")
        pairing = pair_hybrids(scores, own, retain_rows, retain_labels, ctx.num_classes, params.k_classes,
                               derive_seed(ctx.seed, "natmu-pairing"))
    if pairing.reused:
        log.warning("natmu: D_r has too few rows for %d distinct pairs; %d hybrids reuse a retain row",
                    len(pairing.label), pairing.reused)
    if params.init_linear:
        reinit_head(ctx.model, derive_seed(ctx.seed, "natmu-init-linear"))

    height, width = ctx.train_split.image_hw
    retain = ctx.loader(retain_rows, purpose="natmu")
    hybrids = Hybrids(retain, forget_rows, pairing, natmu_masks(height, width, params.delta))
    ctx.fit(ctx.model, Mixed(retain, hybrids), cross_entropy)
    return Unlearned(ctx.model, {"hybrids": len(hybrids), "reused_retain_rows": pairing.reused, "pairing": rule})
