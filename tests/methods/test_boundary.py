"""boundary_shrink and boundary_expand: the FGSM neighbour by hand, labels that are never the
true class, the shadow output added and removed, the CLI, and every bad input."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from tests.conftest import assert_one_line_error
from tests.methods.surgery_helpers import SPEC6_METRICS, artifacts_of, run_ok
from unlearn_cli.artifacts import load_tensors
from unlearn_cli.errors import InputError
from unlearn_cli.methods import boundary
from unlearn_cli.methods.boundary import (
    extendable_head,
    fgsm_neighbour,
    narrowed,
    neighbour_labels,
    prediction_excluding,
    widened,
)
from unlearn_cli.steps.common import load_weights
from unlearn_cli.steps.options import UnlearnOptions
from unlearn_cli.steps.unlearn import prepare

# The session workspaces digits_cli and cifar10_cli, shared by the ssd, salun and boundary tests.
pytest_plugins = ["tests.methods.surgery_fixtures"]


class Difference(nn.Module):
    """logits = (x₀ − x₁, 0) for a 1-channel 1×2 image."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        flat = x.flatten(1)
        return torch.stack([flat[:, 0] - flat[:, 1], torch.zeros(len(x))], dim=1)


MEAN, STD = (0.5,), (0.25,)


def normalised(pixels: list[float]) -> torch.Tensor:
    return ((torch.tensor(pixels).view(1, 1, 1, 2)) - MEAN[0]) / STD[0]


def test_fgsm_neighbour_by_hand():
    # Pixels (0.7, 0.96). With y = 0 the CE falls as x₀ − x₁ grows, so its gradient's sign is
    # (−, +): the neighbour is (0.7 − 0.1, 0.96 + 0.1) = (0.6, 1.06) → clamped to (0.6, 1.0).
    # With y = 1 the signs flip: (0.8, 0.86) → rounded onto the 1/255 grid: (204, 219)/255.
    x = normalised([0.7, 0.96])
    near0 = fgsm_neighbour(Difference(), x, torch.tensor([0]), 0.1, MEAN, STD)
    torch.testing.assert_close(near0, normalised([0.6, 1.0]))
    near1 = fgsm_neighbour(Difference(), x, torch.tensor([1]), 0.1, MEAN, STD)
    torch.testing.assert_close(near1, normalised([204 / 255, 219 / 255]))


def test_prediction_excluding_the_true_class():
    logits = torch.tensor([[3.0, 1.0, 2.0], [0.0, 5.0, 1.0], [0.0, 1.0, 9.0]])
    assert prediction_excluding(logits, torch.tensor([0, 1, 0])).tolist() == [2, 2, 2]


def _forget_batch(ws):
    ctx = prepare(ws, UnlearnOptions(method="boundary_shrink", forget="f10", device="cpu")).ctx
    batch = next(iter(ctx.eval_loader(ctx.forget_rows, batch_size=len(ctx.forget_rows)).epoch(0)))
    return ctx, batch


@pytest.mark.slow
def test_no_new_label_equals_the_true_label_on_a_real_model(digits_cli):
    ctx, batch = _forget_batch(digits_cli.workspace)
    teacher = ctx.frozen_original()
    info = ctx.info
    labels = neighbour_labels(teacher, batch.x, batch.y, 0.1, info.mean, info.std)
    assert not (labels == batch.y).any()
    # The exclusion matters here: the plain arg-max on the neighbour is often the true class.
    neighbour = fgsm_neighbour(teacher, batch.x, batch.y, 0.1, info.mean, info.std)
    with torch.no_grad():
        assert (teacher(neighbour).argmax(1) == batch.y).any()
    # The neighbour is a valid image on the 1/255 grid, within the bound of the original.
    std = torch.tensor(info.std).view(1, -1, 1, 1)
    mean = torch.tensor(info.mean).view(1, -1, 1, 1)
    pixels, original = neighbour * std + mean, batch.x * std + mean
    assert pixels.min() >= -1e-6 and pixels.max() <= 1 + 1e-6
    torch.testing.assert_close(pixels * 255, torch.round(pixels * 255), atol=1e-3, rtol=0)
    assert (pixels - original).abs().max() <= 0.1 + 0.5 / 255 + 1e-5


def test_boundary_shrink_trains_only_on_labels_other_than_the_true_one(digits_cli, monkeypatch):
    seen: list[tuple[torch.Tensor, torch.Tensor]] = []
    real = boundary.neighbour_labels

    def recording(model, x, y, bound, mean, std):
        labels = real(model, x, y, bound, mean, std)
        seen.append((labels, y.clone()))
        return labels

    monkeypatch.setattr(boundary, "neighbour_labels", recording)
    run_ok(digits_cli, "unlearn", "--method", "boundary_shrink", "--forget", "f10", "--epochs", "2", "--name", "bs",
           "--device", "cpu")
    manifest = digits_cli.workspace.read("unlearned", "bs")
    assert len(seen) == manifest.summary["steps"] > 0
    assert sum(len(y) for _, y in seen) == 2 * manifest.summary["forget_size"]  # D_f only, every epoch
    assert all(not (labels == y).any() for labels, y in seen)


def test_widened_and_narrowed_heads():
    head = nn.Linear(4, 3)
    state = torch.random.get_rng_state()
    wide = widened(head, seed=7)
    assert torch.equal(torch.random.get_rng_state(), state)  # the shadow row does not touch the global RNG
    assert (wide.in_features, wide.out_features) == (4, 4)
    assert torch.equal(wide.weight[:3], head.weight) and torch.equal(wide.bias[:3], head.bias)
    assert torch.equal(widened(head, seed=7).weight, wide.weight)  # seeded
    assert not torch.equal(widened(head, seed=8).weight[3], wide.weight[3])
    back = narrowed(wide, 3)
    assert torch.equal(back.weight, head.weight) and torch.equal(back.bias, head.bias)

    no_bias = nn.Linear(4, 3, bias=False)  # resnet9's head
    assert widened(no_bias, seed=0).bias is None and narrowed(widened(no_bias, seed=0), 3).bias is None


@pytest.mark.parametrize("model", [nn.Sequential(nn.Linear(2, 2)), nn.Module()])
def test_a_model_without_a_linear_head_is_refused(model):
    if isinstance(model, nn.Sequential):
        model.head = nn.Sequential(nn.Linear(2, 2))
    with pytest.raises(InputError, match="needs a model whose classifier is one linear layer"):
        extendable_head(model, "boundary_expand")


def test_boundary_expand_on_a_model_without_a_linear_head_from_the_cli(digits_cli, monkeypatch):
    """Refused on the architecture alone, before any data is loaded."""
    import unlearn_cli.steps.unlearn as step
    from unlearn_cli.models.architecture import Architecture

    real_build = Architecture.build

    def odd_head(self):
        model = real_build(self)
        model.head = nn.Sequential(model.head)
        return model

    def no_data(*args, **kwargs):
        raise AssertionError("the data was loaded before the check")

    monkeypatch.setattr(Architecture, "build", odd_head)
    monkeypatch.setattr(step, "load_split", no_data)
    before = artifacts_of(digits_cli.workspace)
    assert_one_line_error(digits_cli("unlearn", "--method", "boundary_expand", "--forget", "f10", "--device", "cpu"),
                          "boundary_expand needs a model whose classifier is one linear layer", "Sequential head")
    assert artifacts_of(digits_cli.workspace) == before


def test_boundary_expand_returns_the_original_outputs_and_loads_with_the_recorded_architecture(digits_cli):
    ws = digits_cli.workspace
    run_ok(digits_cli, "unlearn", "--method", "boundary_expand", "--forget", "f10", "--epochs", "2", "--name", "bx",
           "--device", "cpu")
    manifest = ws.read("unlearned", "bx")
    original = load_tensors(ws.abs(ws.read("model", "digits-cnn-s0").files["weights"].path))
    after = load_tensors(ws.abs(manifest.files["weights"].path))
    assert {k: v.shape for k, v in after.items()} == {k: v.shape for k, v in original.items()}
    assert not torch.equal(after["head.weight"], original["head.weight"])  # the head did train
    model = load_weights(ws, manifest, torch.device("cpu"))
    assert model.head.out_features == 10
    metrics = json.loads(run_ok(digits_cli, "evaluate", "--run", "bx", "--json").stdout)["metrics"]
    assert 0 <= metrics["FA"] <= 100


@pytest.mark.slow
@pytest.mark.parametrize("method", ["boundary_shrink", "boundary_expand"])
@pytest.mark.parametrize("workspace, forget, retrain", [("digits_cli", "f10", "f10-retrain-s0"),
                                                        ("cifar10_cli", "cf", "cf-retrain-s0")])
def test_boundary_methods_run_from_the_cli_and_evaluate_completely(request, method, workspace, forget, retrain):
    cli = request.getfixturevalue(workspace)
    run_ok(cli, "unlearn", "--method", method, "--forget", forget, "--epochs", "1", "--name", "b", "--device", "cpu")
    recipe = cli.workspace.read("unlearned", "b").config["training"]["recipe"]
    assert recipe["optimizer"]["name"] == "sgd" and recipe["optimizer"]["lr"] == 0.01
    metrics = json.loads(run_ok(cli, "evaluate", "--run", "b", "--reference", retrain, "--json").stdout)["metrics"]
    assert SPEC6_METRICS <= set(metrics)


@pytest.mark.parametrize("value", ["0", "-0.1", "1.5"])
def test_a_bound_outside_0_1_is_one_line_and_leaves_nothing(digits_cli, value):
    before = artifacts_of(digits_cli.workspace)
    result = digits_cli("unlearn", "--method", "boundary_shrink", "--forget", "f10", "--param", f"bound={value}",
                        "--device", "cpu")
    assert_one_line_error(result, f"bound={float(value)} is outside (0, 1]")
    assert artifacts_of(digits_cli.workspace) == before
