"""Building models: shapes, gradients, sizes that fit, determinism and user errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from unlearn_cli.errors import InputError, ModelError, UnknownNameError
from unlearn_cli.models import (
    MODELS,
    build_model,
    check_model_fits,
    register_model,
    scale_channels,
)
from unlearn_cli.models.base import ModelSpec

from .helpers import NUM_CLASSES, SHAPES, build_tiny, fits, tiny_width

NAMES = MODELS.names()


def test_registry_holds_every_spec_architecture() -> None:
    assert set(NAMES) == {
        "cnn", "resnet18", "resnet34", "resnet50", "resnet9", "vgg16", "wrn28_10",
    }
    assert all(spec.description for _, spec in MODELS.items())


@pytest.mark.slow
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("name", NAMES)
def test_forward_and_backward(name: str, shape: tuple[int, int, int]) -> None:
    channels, size, _ = shape
    if not fits(name, size):
        with pytest.raises(ModelError, match=name):
            build_tiny(name, channels, size)
        return
    model = build_tiny(name, channels, size)
    x = torch.randn(2, *shape)
    features = model.forward_features(x)
    assert features.shape == (2, model.head.in_features)
    out = model(x)
    assert out.shape == (2, NUM_CLASSES)
    out.square().mean().backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None]
    assert not missing, f"{name}: no gradient for {missing}"
    assert all(torch.isfinite(p.grad).all() for p in model.parameters())


@pytest.mark.parametrize("name", NAMES)
def test_min_image_size_is_exact(name: str) -> None:
    spec = MODELS.get(name)
    model = build_tiny(name, 3, spec.min_image_size)
    assert model(torch.randn(2, 3, spec.min_image_size, spec.min_image_size)).shape == (
        2,
        NUM_CLASSES,
    )
    if spec.min_image_size > 1:
        # One pixel less really cannot run: the declared minimum is not over-cautious.
        raw = spec.build(3, spec.min_image_size - 1, NUM_CLASSES, tiny_width(name))
        small = spec.min_image_size - 1
        with pytest.raises(RuntimeError):
            raw(torch.randn(2, 3, small, small))


@pytest.mark.parametrize("name", [n for n in NAMES if MODELS.get(n).min_image_size > 1])
def test_too_small_images_are_refused_before_building(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = MODELS.get(name)
    calls: list[tuple] = []

    def spy(*args: object) -> nn.Module:
        calls.append(args)
        return spec.build(*args)  # type: ignore[arg-type]

    monkeypatch.setitem(MODELS._items, name, ModelSpec(name, spy, spec.min_image_size, ""))
    with pytest.raises(ModelError) as err:
        build_model(name, channels=1, image_size=8, num_classes=10, dataset="digits")
    assert not calls
    assert name in err.value.message and "8×8" in err.value.message
    assert err.value.hint is not None and "cnn" in err.value.hint


def test_vgg16_on_digits_message() -> None:
    with pytest.raises(ModelError) as err:
        check_model_fits("vgg16", image_size=8, dataset="digits")
    assert err.value.message == "vgg16 needs images of at least 32×32 pixels; digits has 8×8"
    assert err.value.hint == "choose another model, e.g. cnn or resnet18"
    check_model_fits("vgg16", image_size=32)  # fits: no error
    check_model_fits("vgg16", image_size=64)


@pytest.mark.parametrize("name", NAMES)
def test_same_seed_same_weights(name: str) -> None:
    a, b, c = build_tiny(name, seed=3), build_tiny(name, seed=3), build_tiny(name, seed=4)
    sa, sb, sc = a.state_dict(), b.state_dict(), c.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert any(not torch.equal(sa[k], sc[k]) for k in sa)


def test_biases_start_at_zero() -> None:
    model = build_tiny("vgg16")
    biases = [m.bias for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    assert biases and all(torch.count_nonzero(b) == 0 for b in biases)


@pytest.mark.parametrize("name", NAMES)
def test_swapping_the_head_changes_the_output_width(name: str) -> None:
    model = build_tiny(name)
    model.head = nn.Linear(model.head.in_features, NUM_CLASSES + 1)
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, NUM_CLASSES + 1)
    assert model.blocks()[-1] is model.head


def test_width_multiplies_channels() -> None:
    torch.manual_seed(0)
    full = build_model("resnet18", channels=3, image_size=32, num_classes=10)
    half = build_model("resnet18", channels=3, image_size=32, num_classes=10, width=0.5)
    assert full.head.in_features == 512 and half.head.in_features == 256
    assert scale_channels(64, 0.125) == 8
    assert scale_channels(16, 1 / 16) == 1
    assert scale_channels(3, 0.01) == 1  # never zero channels


def test_grey_and_colour_inputs() -> None:
    grey = build_tiny("resnet18", channels=1)
    assert grey.stem[0].in_channels == 1
    with pytest.raises(RuntimeError):
        grey(torch.randn(2, 3, 32, 32))  # built for the data's channel count


@pytest.mark.parametrize("call", [build_model, check_model_fits])
def test_unknown_name_lists_the_valid_ones(call) -> None:
    kwargs = (
        dict(channels=3, image_size=32, num_classes=10)
        if call is build_model
        else dict(image_size=32)
    )
    with pytest.raises(UnknownNameError) as err:
        call("resnet1000", **kwargs)
    assert "resnet1000" in err.value.message
    assert all(n in err.value.hint for n in NAMES)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("channels", 0),
        ("image_size", -8),
        ("num_classes", 0),
        ("num_classes", True),
        ("width", 0.0),
        ("width", -1.0),
        ("width", math.nan),
        ("width", math.inf),
    ],
)
def test_invalid_arguments(field: str, value: object) -> None:
    kwargs: dict = dict(channels=3, image_size=32, num_classes=10, width=1.0)
    kwargs[field] = value
    with pytest.raises(InputError) as err:
        build_model("cnn", **kwargs)
    assert field in err.value.message and repr(value) in err.value.message


def test_duplicate_registration_is_refused() -> None:
    with pytest.raises(ValueError, match="cnn"):
        register_model("cnn")(lambda c, s, n, w: nn.Linear(1, 1))
    assert MODELS.get("cnn").description  # the original entry is untouched


def test_numpy_sizes_are_accepted() -> None:
    # Sizes often come straight from array shapes or manifests as numpy integers.
    torch.manual_seed(0)
    model = build_model(
        "cnn",
        channels=np.int64(1),
        image_size=np.int64(8),
        num_classes=np.int64(10),
        width=np.float32(0.25),
    )
    assert model(torch.randn(2, 1, 8, 8)).shape == (2, 10)
