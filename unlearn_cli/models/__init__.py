"""The model registry and the architectures (SPEC.md §2).

Importing this package imports every architecture module, so `MODELS` is complete.
"""

from __future__ import annotations

# Import order is registry order: `unlearn ls models` lists them this way, and the
# "choose another model" hint names the first ones that fit.
from unlearn_cli.models import cnn, resnet, resnet9, vgg, wrn  # noqa: F401
from unlearn_cli.models.base import (
    MODELS,
    BlockModel,
    BuildFn,
    ModelSpec,
    build_model,
    check_model_fits,
    last_k_parameters,
    model_blocks,
    register_model,
    reinit_blocks,
    scale_channels,
)

__all__ = [
    "MODELS",
    "BlockModel",
    "BuildFn",
    "ModelSpec",
    "build_model",
    "check_model_fits",
    "last_k_parameters",
    "model_blocks",
    "register_model",
    "reinit_blocks",
    "scale_channels",
]
