"""Blocks: a partition of the model ending with the head; the last-k API on every model."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from unlearn_cli.errors import InputError, ModelError
from unlearn_cli.models import (
    MODELS,
    frozen_modules,
    last_k_modules,
    last_k_parameters,
    model_blocks,
    reinit_last_k,
    valid_ks,
    weight_layers,
)

from .helpers import build_tiny

NAMES = MODELS.names()


def _ids(modules: list[nn.Module], buffers: bool = False) -> list[int]:
    tensors = [t for m in modules for t in (m.buffers() if buffers else m.parameters())]
    return [id(t) for t in tensors]


@pytest.mark.parametrize("name", NAMES)
def test_blocks_partition_parameters_and_buffers_and_end_with_head(name: str) -> None:
    model = build_tiny(name)
    blocks = model_blocks(model)
    assert blocks[-1] is model.head and isinstance(model.head, nn.Linear)
    for buffers in (False, True):
        ids = _ids(blocks, buffers)
        assert len(ids) == len(set(ids)), "a tensor is in two blocks"
        every = model.buffers() if buffers else model.parameters()
        assert set(ids) == {id(t) for t in every}, "a tensor is in no block"
    assert all(weight_layers(b) >= 1 for b in blocks), "a block without a weight layer"


@pytest.mark.parametrize("name", NAMES)
def test_every_valid_k_splits_the_blocks(name: str) -> None:
    model = build_tiny(name)
    blocks = model_blocks(model)
    ks = valid_ks(model)
    assert ks[0] == 1 and ks == sorted(set(ks))
    for k in ks:
        last, frozen = last_k_modules(model, k), frozen_modules(model, k)
        assert frozen + last == blocks, f"{name} k={k}: not a cut between blocks"
        assert frozen, f"{name} k={k}: the stem is never in the last k"
        assert sum(weight_layers(b) for b in last) == k
        assert _ids(last) == [id(p) for p in last_k_parameters(model, k)]
    assert [id(p) for p in last_k_parameters(model, 1)] == _ids([model.head])


@pytest.mark.parametrize("k", [0, -1, 3, 9, 99, True, 2.0, "2"])
def test_an_invalid_k_lists_the_valid_ones(k: object) -> None:
    model = build_tiny("resnet9")
    for call in (last_k_modules, last_k_parameters, frozen_modules, reinit_last_k):
        with pytest.raises(InputError) as err:
            call(model, k)  # type: ignore[arg-type]
        assert err.value.message.startswith(f"k={k!r} is not a valid k for ResNet9")
        assert err.value.hint == "choose k from 1, 2, 4, 5, 7, 8"


def test_a_model_without_blocks_is_refused() -> None:
    with pytest.raises(ModelError, match="Linear"):
        model_blocks(nn.Linear(2, 2))
    with pytest.raises(ModelError, match="Linear"):
        valid_ks(nn.Linear(2, 2))


def _perturb(model: nn.Module) -> None:
    # Move every parameter and statistic away from any value an init could give.
    with torch.no_grad():
        for p in model.parameters():
            p.add_(3.0)
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.fill_(5.0)
                m.running_var.fill_(7.0)
                m.num_batches_tracked.fill_(9)


def _changed_keys(model: nn.Module, before: dict[str, torch.Tensor]) -> set[str]:
    return {k for k, v in model.state_dict().items() if not torch.equal(v, before[k])}


def _last_k_keys(model: nn.Module, k: int) -> set[str]:
    inside = set(_ids(last_k_modules(model, k))) | set(_ids(last_k_modules(model, k), True))
    return {key for key, t in model.state_dict(keep_vars=True).items() if id(t) in inside}


@pytest.mark.parametrize("name", NAMES)
def test_fresh_reinit_changes_exactly_the_last_k_blocks(name: str) -> None:
    model = build_tiny(name)
    _perturb(model)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    k = valid_ks(model)[1]
    reinit_last_k(model, k, seed=0)
    expected = _last_k_keys(model, k)
    assert _changed_keys(model, before) == expected
    for m in last_k_modules(model, k)[0].modules():
        if isinstance(m, nn.BatchNorm2d):  # statistics cleared as in a fresh build
            assert torch.equal(m.running_mean, torch.zeros_like(m.running_mean))
            assert torch.equal(m.running_var, torch.ones_like(m.running_var))
            assert m.num_batches_tracked.item() == 0


@pytest.mark.parametrize("name", NAMES)
def test_reinit_from_the_initial_state_copies_exactly_the_last_k_blocks(name: str) -> None:
    init = {key: v.clone() for key, v in build_tiny(name, seed=5).state_dict().items()}
    model = build_tiny(name, seed=6)
    _perturb(model)
    before = {key: v.clone() for key, v in model.state_dict().items()}
    k = valid_ks(model)[-1]
    reinit_last_k(model, k, init_state=init, seed=123)  # the seed is unused here
    expected = _last_k_keys(model, k)
    after = model.state_dict()
    assert _changed_keys(model, before) == expected
    assert all(torch.equal(after[key], init[key]) for key in expected)


def test_reinit_from_an_unfitting_initial_state_changes_nothing() -> None:
    model = build_tiny("resnet9")
    before = {k: v.clone() for k, v in model.state_dict().items()}
    init = build_tiny("resnet9", seed=1).state_dict()
    missing = {k: v for k, v in init.items() if k != "layer3.1.running_mean"}
    with pytest.raises(ModelError, match="lack 'layer3.1.running_mean'") as err:
        reinit_last_k(model, 2, init_state=missing)
    assert err.value.hint is not None and "initial state_dict" in err.value.hint
    wrong = dict(init, **{"layer3.0.bias": torch.zeros(3)})
    with pytest.raises(ModelError, match=r"'layer3.0.bias' the shape \(3,\)"):
        reinit_last_k(model, 2, init_state=wrong)
    assert not _changed_keys(model, before)


def test_k1_seeded_reinit_draws_the_head_as_a_fresh_linear_does() -> None:
    model = build_tiny("resnet18", seed=1)
    state = torch.get_rng_state()
    reinit_last_k(model, 1, seed=7)
    assert torch.equal(torch.get_rng_state(), state), "the global RNG was disturbed"
    torch.manual_seed(7)
    fresh = nn.Linear(model.head.in_features, model.head.out_features)
    assert torch.equal(model.head.weight, fresh.weight)
    assert torch.count_nonzero(model.head.bias) == 0  # biases start at zero


def test_reinit_without_seed_draws_from_the_global_rng() -> None:
    a, b = build_tiny("cnn"), build_tiny("cnn")
    torch.manual_seed(11)
    reinit_last_k(a, 2)
    torch.manual_seed(11)
    reinit_last_k(b, 2)
    assert torch.equal(a.head.weight, b.head.weight)
    reinit_last_k(b, 2)
    assert not torch.equal(a.head.weight, b.head.weight)
