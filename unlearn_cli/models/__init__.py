"""The model registry and the architectures (README.md "Models and pretraining").

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
    frozen_modules,
    last_k_modules,
    last_k_parameters,
    model_blocks,
    register_model,
    reinit_last_k,
    scale_channels,
    valid_ks,
    weight_layers,
)

__all__ = [
    "MODELS",
    "BlockModel",
    "BuildFn",
    "ModelSpec",
    "build_model",
    "check_model_fits",
    "frozen_modules",
    "last_k_modules",
    "last_k_parameters",
    "model_blocks",
    "register_model",
    "reinit_last_k",
    "scale_channels",
    "valid_ks",
    "weight_layers",
]
