"""The `halves` design (torch-free): U-LiRA's shadow models, LiRA's keep masks.

    pool        --pool P train rows, class-balanced, seeded: the audited rows T
    masks       K × train rows, every train row kept by exactly K/2 shadows (LiRA's
                `research/mi_lira_2021/train.py`: per row, a seeded uniform draw per shadow,
                argsorted, the first K/2 keep it)
    shadows     shadow k = M0's pretraining with seed k on D_k (its mask), the other rows left
                out (`pretrain --exclude`: recorded in the model, then neither D_f nor D_r)
    forget sets F_k = T ∩ D_k imported on shadow k (`indices`)
    unlearned   the method on shadow k and F_k, seed k
    queries     one per unlearned run, of the pool's rows

IN for row x: the shadows with x ∈ F_k (trained on it, then unlearned it); OUT: x ∉ D_k (never
saw it). No retrains; so no ε score nor KLoM (they compare unlearned with retrained models).
Shadows, masks and forget sets are named by (M0, K, P, seed) only, so an audit of another
method with the same pool, K and seed reuses them and runs only its K unlearning runs and
queries.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from unlearn_cli.artifacts import Manifest, atomic_write_bytes, naming
from unlearn_cli.errors import InputError

MIN_SHADOWS_A_SIDE = 4  # U-LiRA's floor per row (ulira.MIN_SHADOWS); a target leaves K/2 − 1
FOLDER = "halves"  # <workspace>/halves/<M0>-<tag>/: the masks and index files of one pool


def check(models: int, pool: int, train_size: int) -> None:
    if models % 2:
        raise InputError(f"--models {models} is odd: the halves design keeps every pool row in exactly half "
                         "of the shadows", hint=f"e.g. --models {models + 1}")
    if models // 2 - 1 < MIN_SHADOWS_A_SIDE:
        raise InputError(f"--models {models} is too few for halves: a held-out shadow leaves K/2 − 1 = "
                         f"{models // 2 - 1} on its side and a row needs {MIN_SHADOWS_A_SIDE}",
                         hint=f"e.g. --models {2 * (MIN_SHADOWS_A_SIDE + 1)}; LiRA's baseline is 16")
    if not 1 <= pool <= train_size:
        raise InputError(f"--pool {pool} is not within the train set's {train_size} rows",
                         hint=f"choose 1…{train_size}, e.g. --pool {min(300, train_size)}")


def pool_rows(labels: np.ndarray, size: int, seed: int) -> np.ndarray:
    """`size` train rows, as even across classes as they allow (⌊size/C⌋ each, the rest one
    each to seeded classes; a class with too few rows gives all it has and the others make up
    for it), drawn with a seeded generator; sorted."""
    rng = np.random.default_rng(seed)
    classes = np.unique(labels)
    by_class = {c: rng.permutation(np.flatnonzero(labels == c)) for c in classes}
    quota = {c: size // len(classes) for c in classes}
    for c in rng.permutation(classes)[: size % len(classes)]:
        quota[c] += 1
    short = sum(max(0, quota[c] - len(by_class[c])) for c in classes)
    chosen = [by_class[c][: quota[c]] for c in classes]
    if short:
        spare = rng.permutation(np.concatenate([by_class[c][quota[c]:] for c in classes]))
        chosen.append(spare[:short])
    return np.sort(np.concatenate(chosen)).astype(np.int64)


def keep_masks(models: int, train_size: int, seed: int) -> np.ndarray:
    """(models, train_size) bool, LiRA's train.py rule with pkeep = 0.5: every column has
    exactly models/2 True."""
    draws = np.random.default_rng(seed).uniform(0, 1, size=(models, train_size))
    order = draws.argsort(0)
    return order < models // 2


def tag(models: int, pool: int, seed: int) -> str:
    return f"h{models}p{pool}s{seed}"


@dataclass(frozen=True)
class HalvesFiles:
    """Where one (M0, K, P, seed)'s masks and index files live, shared by every audit of it."""

    folder: Path

    @property
    def masks(self) -> Path:
        return self.folder / "masks.npy"

    @property
    def pool(self) -> Path:
        return self.folder / "pool.npy"

    def excluded(self, k: int) -> Path:
        return self.folder / f"exclude-{k}.npy"

    def forget(self, k: int) -> Path:
        return self.folder / f"forget-{k}.npy"

    def write(self, pool: np.ndarray, masks: np.ndarray) -> None:
        """Write (or leave, when equal) every file: they are inputs of the shadows' nodes."""
        self.folder.mkdir(parents=True, exist_ok=True)
        _save_if_changed(self.masks, masks)
        _save_if_changed(self.pool, pool)
        in_pool = np.zeros(masks.shape[1], dtype=bool)
        in_pool[pool] = True
        for k, keep in enumerate(masks):
            _save_if_changed(self.excluded(k), np.flatnonzero(~keep).astype(np.int64))
            _save_if_changed(self.forget(k), np.flatnonzero(keep & in_pool).astype(np.int64))


def files_for(root: Path, template: Manifest, models: int, pool: int, seed: int) -> HalvesFiles:
    return HalvesFiles(root / FOLDER / f"{template.name}-{tag(models, pool, seed)}")


def shadow_name(template: Manifest, k: int, models: int, pool: int, seed: int) -> str:
    template_seed = int(template.config.get("seed", -1))
    base = naming.with_seed(template.name, template_seed, k)
    if base is None:
        raise InputError(f"model {template.name} is not named <...>-s{template_seed}, so the audit cannot name "
                         "its shadows", hint="pretrain the template under its default name")
    return f"{base}-{tag(models, pool, seed)}"


def membership(masks: np.ndarray, pool: np.ndarray) -> np.ndarray:
    """(models, pool rows): True where shadow k trained on (and then unlearned) the row."""
    return masks[:, pool]


def _save_if_changed(path: Path, array: np.ndarray) -> None:
    if path.exists():
        try:
            if np.array_equal(np.load(path, allow_pickle=False), array):
                return  # its mtime too: a node that read it is not disturbed
        except (OSError, ValueError):
            pass
    buffer = io.BytesIO()
    np.save(buffer, array)
    atomic_write_bytes(path, buffer.getvalue())
