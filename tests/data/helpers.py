"""Tiny synthetic splits for the loader tests (CPU, a few dozen 6×6 images)."""

from __future__ import annotations

import numpy as np

from unlearn_cli.data.loader import DeviceSplit


def make_split(
    n: int = 20, size: int = 6, channels: int = 3, high: int = 200, seed: int = 0
) -> tuple[DeviceSplit, np.ndarray, np.ndarray]:
    """Images with pixel values below `high` so a 255 trigger is unambiguous."""
    rng = np.random.default_rng(seed)
    images = rng.integers(0, high, size=(n, size, size, channels), dtype=np.uint8)
    labels = rng.integers(0, 10, size=n).astype(np.int64)
    return DeviceSplit.from_numpy(images, labels, "cpu"), images, labels

