"""The model registry and the block interface every architecture shares.

An architecture registers a *build function* `(channels, image_size, num_classes, width)
-> nn.Module` under a name; `build_model` looks it up, checks the image is large enough,
builds it and finishes its initialisation. Every model is a `BlockModel`: a classifier
whose final `nn.Linear` is `model.head` and whose parameterised units are listed, in
forward order, by `model.blocks()` — the units between which "the last k layers" of
CF-k and EU-k may cut (`valid_ks`, `last_k_modules`, `frozen_modules`, `reinit_last_k`).
"""

from __future__ import annotations

import abc
import math
from collections.abc import Callable, Mapping
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
        """Parameterised units in forward order: the first is the stem, the last is
        `self.head`; every parameter and buffer belongs to exactly one unit, and each
        unit holds at least one weight layer (`weight_layers`)."""

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
    # Conv/linear biases start at zero, as the corrective repo's `initialize_weights`
    # does (src/utils.py:300-310) — NatMU keeps PyTorch's default uniform bias, which the
    # descriptions of its models say. A fresh model and a re-initialised block are thus
    # drawn from the same distribution.
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


# --- The last k layers (CF-k, EU-k) -------------------------------------------------------
#
# k counts weight layers from the output, as the corrective repository's
# `ApplyK.divide_model` does (src/methods.py:154-189): the head is 1, each conv layer 1, a
# projection shortcut 0 (a Wide-ResNet block counts 2 there although some hold a third,
# 1×1 conv). The cut falls only between blocks, and never below the first block (the
# stem): the reference's k never trains its first conv — "train everything" is k = -1
# there, i.e. the method without k here. So resnet9 allows k ∈ {1, 2, 4, 5, 7, 8} and
# wrn28_10 every odd k in 1…25, each naming the same modules the reference trains.

SHORTCUT_NAME = "shortcut"
"""A submodule of this name is a residual projection: its convs are not counted by k."""


def weight_layers(block: nn.Module) -> int:
    """How many weight layers k counts in `block`: its Conv2d and Linear modules, except
    those inside a submodule named `shortcut`."""
    return sum(
        1
        for name, module in block.named_modules()
        if isinstance(module, (nn.Conv2d, nn.Linear))
        and SHORTCUT_NAME not in name.split(".")
    )


def model_blocks(model: nn.Module) -> list[nn.Module]:
    """`model.blocks()`, or ModelError if the model does not expose blocks."""
    blocks = getattr(model, "blocks", None)
    if not callable(blocks):
        raise ModelError(
            f"model {type(model).__name__} does not list its blocks",
            hint="build it with unlearn_cli.models.build_model",
        )
    return list(blocks())


def _cut_points(blocks: list[nn.Module]) -> dict[int, int]:
    """{k: how many trailing blocks hold the last k weight layers}, ascending in k."""
    cuts: dict[int, int] = {}
    k = 0
    for n, block in enumerate(reversed(blocks[1:]), start=1):
        k += weight_layers(block)
        cuts[k] = n  # a block without weight layers would go with the block after it
    return cuts


def valid_ks(model: nn.Module) -> list[int]:
    """Every k that `model` allows for CF-k / EU-k, ascending."""
    return sorted(_cut_points(model_blocks(model)))


def _split(model: nn.Module, k: int) -> tuple[list[nn.Module], list[nn.Module]]:
    """(frozen blocks, last-k blocks), each in forward order; InputError for an invalid k."""
    blocks = model_blocks(model)
    cuts = _cut_points(blocks)
    if isinstance(k, bool) or not isinstance(k, Integral) or int(k) not in cuts:
        raise InputError(
            f"k={k!r} is not a valid k for {type(model).__name__}: k counts weight layers "
            "from the output and cuts only between its blocks",
            hint=f"choose k from {', '.join(str(v) for v in sorted(cuts))}",
        )
    n = cuts[int(k)]
    return blocks[: len(blocks) - n], blocks[len(blocks) - n :]


def last_k_modules(model: nn.Module, k: int) -> list[nn.Module]:
    """The blocks holding the last k weight layers (k = 1: the head), in forward order:
    trained under CF-k, re-initialised under EU-k."""
    return _split(model, k)[1]


def last_k_parameters(model: nn.Module, k: int) -> list[nn.Parameter]:
    """The parameters of `last_k_modules(model, k)`, in forward order."""
    return [p for block in last_k_modules(model, k) for p in block.parameters()]


def frozen_modules(model: nn.Module, k: int) -> list[nn.Module]:
    """The blocks before the last k, in forward order: together with `last_k_modules` they
    hold every parameter and buffer of the model. A method keeps them in eval mode, as
    the reference keeps its frozen prenet, so their BatchNorm statistics do not move."""
    return _split(model, k)[0]


def reinit_last_k(
    model: nn.Module,
    k: int,
    init_state: Mapping[str, torch.Tensor] | None = None,
    seed: int | None = None,
) -> None:
    """EU-k: re-initialise the last k blocks in place, BatchNorm statistics included.

    With `init_state` (the model's saved initial `state_dict`), their parameters and
    buffers are copied back from it; `seed` is then unused. Without it they are drawn
    afresh like a new build (the reference's `initialize_weights`): from `seed`, leaving
    the global RNG as it was, or without a seed from the global RNG.
    """
    blocks = last_k_modules(model, k)
    if init_state is not None:
        _restore(model, blocks, init_state)
        return
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


def _restore(
    model: nn.Module, blocks: list[nn.Module], init_state: Mapping[str, torch.Tensor]
) -> None:
    inside = {id(t) for block in blocks for t in (*block.parameters(), *block.buffers())}
    targets = {
        name: tensor
        for name, tensor in model.state_dict(keep_vars=True).items()
        if id(tensor) in inside
    }
    # Check everything before copying anything: a half-restored model would be silent.
    for name, tensor in targets.items():
        if name not in init_state:
            raise ModelError(
                f"the initial weights lack {name!r}",
                hint="pass the initial state_dict saved for this same model",
            )
        if tuple(init_state[name].shape) != tuple(tensor.shape):
            raise ModelError(
                f"the initial weights give {name!r} the shape "
                f"{tuple(init_state[name].shape)}, the model {tuple(tensor.shape)}",
                hint="pass the initial state_dict saved for this same model",
            )
    with torch.no_grad():
        for name, tensor in targets.items():
            tensor.copy_(init_state[name])
