"""The model registry and the block interface every architecture shares.

An architecture registers a *build function* `(channels, image_size, num_classes, width)
-> nn.Module` under a name; `build_model` looks it up, checks the image is large enough,
builds it and finishes its initialisation. Every model is a `BlockModel`: a classifier
whose final `nn.Linear` is `model.head` and whose parameterised units are listed, in
forward order, by `model.blocks()` — the unit of "the last k layers" for CF-k and EU-k.
"""

from __future__ import annotations

import abc
import math
from collections.abc import Callable
from dataclasses import dataclass
from numbers import Integral, Real

import torch
from torch import nn

from unlearn_cli.errors import InputError, ModelError
from unlearn_cli.registry import Registry

BuildFn = Callable[[int, int, int, float], nn.Module]
"""(channels, image_size, num_classes, width) -> model."""


@dataclass(frozen=True)
class ModelSpec:
    """One registered architecture: how to build it and which images it accepts."""

    name: str
    build: BuildFn
    min_image_size: int
    description: str


MODELS: Registry[ModelSpec] = Registry("model")


def register_model(
    name: str, *, min_image_size: int = 1, description: str = ""
) -> Callable[[BuildFn], BuildFn]:
    """Decorator: register a build function under `name` (a duplicate name raises)."""

    def decorator(build: BuildFn) -> BuildFn:
        MODELS.add(name, ModelSpec(name, build, min_image_size, description))
        return build

    return decorator


def scale_channels(channels: int, width: float) -> int:
    """A channel count multiplied by the width factor; never below one channel."""
    return max(1, round(channels * width))


class BlockModel(nn.Module, abc.ABC):
    """Base class of every architecture.

    Subclasses set `self.head` (an `nn.Linear`) and implement `forward_features` and
    `blocks`. `forward` reads `self.head` at call time, so a method can replace the
    classifier (e.g. add a class output) by plain assignment.
    """

    head: nn.Linear

    @abc.abstractmethod
    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Penultimate features, flattened to (batch, head.in_features)."""

    @abc.abstractmethod
    def blocks(self) -> list[nn.Module]:
        """Parameterised units in forward order; the last is `self.head`, and every
        parameter belongs to exactly one unit."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.forward_features(x))


def _positive_int(value: object, what: str, hint: str) -> int:
    # Integral admits numpy integers (sizes read from arrays); bool is excluded because
    # True as a class count is a bug, not a 1.
    if isinstance(value, bool) or not isinstance(value, Integral) or value < 1:
        raise InputError(f"{what} must be a positive integer, got {value!r}", hint=hint)
    return int(value)


def check_model_fits(name: str, *, image_size: int, dataset: str | None = None) -> None:
    """Raise ModelError if architecture `name` cannot take `image_size`×`image_size`
    images (UnknownNameError if there is no such model). Cheap: builds nothing."""
    spec = MODELS.get(name)
    if image_size >= spec.min_image_size:
        return
    source = f"{dataset} has" if dataset else "got"
    fitting = [s.name for _, s in MODELS.items() if image_size >= s.min_image_size]
    hint = (
        f"choose another model, e.g. {' or '.join(fitting[:2])}"
        if fitting
        else "use a dataset with larger images"
    )
    raise ModelError(
        f"{name} needs images of at least {spec.min_image_size}×{spec.min_image_size} "
        f"pixels; {source} {image_size}×{image_size}",
        hint=hint,
    )


def build_model(
    name: str,
    *,
    channels: int,
    image_size: int,
    num_classes: int,
    width: float = 1.0,
    dataset: str | None = None,
) -> nn.Module:
    """Build architecture `name` for the data's shape, initialised from torch's global
    RNG (seed it first for reproducible weights). `dataset` only improves messages."""
    channels = _positive_int(channels, "channels", "images have 1 (grey) or 3 (colour) channels")
    image_size = _positive_int(image_size, "image_size", "pass the image side in pixels")
    num_classes = _positive_int(num_classes, "num_classes", "a classifier needs a class")
    if isinstance(width, bool) or not isinstance(width, Real) or not (
        math.isfinite(width) and width > 0
    ):
        raise InputError(
            f"width must be a positive number, got {width!r}",
            hint="use 1.0 for the published sizes, or e.g. 0.25 for a small model",
        )
    check_model_fits(name, image_size=image_size, dataset=dataset)
    model = MODELS.get(name).build(channels, image_size, num_classes, float(width))
    model.apply(_zero_bias)
    return model


def _zero_bias(module: nn.Module) -> None:
    # Conv/linear biases start at zero (as in the corrective repo's initialisation), so
    # a fresh model and a re-initialised block are drawn from the same distribution.
    if isinstance(module, (nn.Conv2d, nn.Linear)) and module.bias is not None:
        nn.init.zeros_(module.bias)


def _reset_module(module: nn.Module) -> None:
    # Only modules that own parameters or buffers directly: a container's own
    # reset_parameters (if any) would duplicate the work of its children.
    owns_state = any(True for _ in module.parameters(recurse=False)) or any(
        True for _ in module.buffers(recurse=False)
    )
    reset = getattr(module, "reset_parameters", None)
    if owns_state and callable(reset):
        reset()  # BatchNorm also clears its running statistics here.
        _zero_bias(module)


def model_blocks(model: nn.Module) -> list[nn.Module]:
    """`model.blocks()`, or ModelError if the model does not expose blocks."""
    blocks = getattr(model, "blocks", None)
    if not callable(blocks):
        raise ModelError(
            f"model {type(model).__name__} does not list its blocks",
            hint="build it with unlearn_cli.models.build_model",
        )
    return list(blocks())


def _last_k_blocks(model: nn.Module, k: int) -> list[nn.Module]:
    blocks = model_blocks(model)
    n = len(blocks)
    if isinstance(k, bool) or not isinstance(k, Integral) or not 1 <= k <= n:
        raise InputError(
            f"k={k!r} is out of range: {type(model).__name__} has {n} blocks",
            hint=f"choose k between 1 (the head only) and {n} (the whole model)",
        )
    return blocks[n - int(k) :]


def last_k_parameters(model: nn.Module, k: int) -> list[nn.Parameter]:
    """The parameters of the last k blocks (k = 1: the head), in forward order."""
    return [p for block in _last_k_blocks(model, k) for p in block.parameters()]


def reinit_blocks(model: nn.Module, k: int, *, seed: int | None = None) -> None:
    """Re-initialise the last k blocks in place (EU-k), BatchNorm statistics included.

    With `seed`, the draw uses that seed and leaves the global RNG as it was; without,
    it draws from the global RNG like a fresh build.
    """
    blocks = _last_k_blocks(model, k)
    if seed is None:
        for block in blocks:
            block.apply(_reset_module)
        return
    cuda_devices = sorted(
        {p.device.index or 0 for p in model.parameters() if p.device.type == "cuda"}
    )
    with torch.random.fork_rng(devices=cuda_devices):
        torch.manual_seed(seed)
        for block in blocks:
            block.apply(_reset_module)
