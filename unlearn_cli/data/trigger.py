"""The BadNet trigger a poison manipulation stamps on its rows (a plain description; the
loaders apply it with `data/augment.py:apply_trigger`, after augmentation)."""

from __future__ import annotations

from dataclasses import dataclass

from unlearn_cli.errors import InputError


@dataclass(frozen=True)
class Trigger:
    """A BadNet trigger: a `patch_size`² square of `value` in the bottom-right corner."""

    patch_size: int = 3
    value: float = 255.0  # uint8 pixel units: applied before normalisation

    def __post_init__(self) -> None:
        if isinstance(self.patch_size, bool) or not isinstance(self.patch_size, int):
            raise InputError(f"trigger patch size {self.patch_size!r} is not an integer")
        if self.patch_size < 1:
            raise InputError(
                f"trigger patch size {self.patch_size} is not positive",
                hint="use a patch of at least 1 pixel, e.g. --patch-size 3",
            )
        if not 0.0 <= float(self.value) <= 255.0:
            raise InputError(
                f"trigger value {self.value} is outside the pixel range 0..255",
                hint="the value is in uint8 pixel units; 255 is the maximum (white)",
            )
