"""`Architecture`: how to rebuild a model — its registered name, width and the data shape it
was built for — as a model manifest records it under `config.architecture`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from torch import nn

from unlearn_cli.errors import ArtifactError
from unlearn_cli.models.base import build_model


@dataclass(frozen=True)
class Architecture:
    name: str  # a registered model (`unlearn ls models`)
    width: float
    channels: int
    image_size: int
    num_classes: int

    def build(self) -> nn.Module:
        return build_model(self.name, channels=self.channels, image_size=self.image_size,
                           num_classes=self.num_classes, width=self.width)

    def to_config(self) -> dict[str, Any]:
        return {"name": self.name, "width": self.width, "channels": self.channels,
                "image_size": self.image_size, "num_classes": self.num_classes}

    @classmethod
    def from_config(cls, config: Mapping[str, Any], source: str) -> Architecture:
        """The architecture a manifest's config records; `source` names the manifest in errors."""
        try:
            arch = config["architecture"]
            return cls(arch["name"], float(arch["width"]), int(arch["channels"]), int(arch["image_size"]),
                       int(arch["num_classes"]))
        except (KeyError, TypeError, ValueError) as error:
            raise ArtifactError(f"{source}: no model architecture recorded ({error})",
                                hint="re-create the model with this version of unlearn") from None
