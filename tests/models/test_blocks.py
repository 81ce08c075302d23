"""Blocks: a partition of the parameters ending with the head; last-k selection; EU-k."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from unlearn_cli.errors import InputError, ModelError
from unlearn_cli.models import MODELS, last_k_parameters, model_blocks, reinit_blocks

from .helpers import build_tiny

NAMES = MODELS.names()


@pytest.mark.parametrize("name", NAMES)
def test_blocks_partition_parameters_and_end_with_head(name: str) -> None:
    model = build_tiny(name)
    blocks = model_blocks(model)
    assert blocks[-1] is model.head and isinstance(model.head, nn.Linear)
    ids = [id(p) for block in blocks for p in block.parameters()]
    assert len(ids) == len(set(ids)), "a parameter is in two blocks"
    assert set(ids) == {id(p) for p in model.parameters()}, "a parameter is in no block"
    assert all(any(True for _ in b.parameters()) for b in blocks), "an empty block"


@pytest.mark.parametrize("name", NAMES)
def test_last_k_parameters(name: str) -> None:
    model = build_tiny(name)
    n = len(model_blocks(model))
    assert [id(p) for p in last_k_parameters(model, 1)] == [
        id(p) for p in model.head.parameters()
    ]
    two = {id(p) for p in last_k_parameters(model, 2)}
    assert two == {id(p) for b in model_blocks(model)[-2:] for p in b.parameters()}
    assert {id(p) for p in last_k_parameters(model, n)} == {id(p) for p in model.parameters()}


@pytest.mark.parametrize("k", [0, -1, 99, True, 1.0])
def test_k_out_of_range(k: object) -> None:
    model = build_tiny("resnet9")
    with pytest.raises(InputError) as err:
        last_k_parameters(model, k)  # type: ignore[arg-type]
    assert f"k={k!r}" in err.value.message and "7 blocks" in err.value.message
    assert err.value.hint is not None and "7" in err.value.hint
    with pytest.raises(InputError):
        reinit_blocks(model, k)  # type: ignore[arg-type]


def test_a_model_without_blocks_is_refused() -> None:
    with pytest.raises(ModelError, match="Linear"):
        model_blocks(nn.Linear(2, 2))


def _perturb(model: nn.Module) -> None:
    # Move every parameter and BN statistic away from any value an init could give.
    with torch.no_grad():
        for p in model.parameters():
            p.add_(3.0)
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.fill_(5.0)
                m.running_var.fill_(7.0)


@pytest.mark.parametrize("name", NAMES)
def test_reinit_changes_exactly_the_last_k_blocks(name: str) -> None:
    model = build_tiny(name)
    _perturb(model)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    k = 2
    reinit_blocks(model, k, seed=0)
    blocks = model_blocks(model)
    inside = {id(t) for b in blocks[-k:] for t in [*b.parameters(), *b.buffers()]}
    for key, value in model.state_dict(keep_vars=True).items():
        if key.endswith("num_batches_tracked"):
            continue
        changed = not torch.equal(value.detach(), before[key])
        assert changed == (id(value) in inside), f"{name}: {key} changed={changed}"


@pytest.mark.parametrize("name", NAMES)
def test_full_reinit_with_seed_equals_a_fresh_build(name: str) -> None:
    # Re-initialised blocks are drawn exactly as a fresh model is: same RNG stream,
    # same distributions, biases back to zero, BN statistics cleared.
    model = build_tiny(name, seed=1)
    _perturb(model)
    state = torch.get_rng_state()
    reinit_blocks(model, len(model_blocks(model)), seed=7)
    assert torch.equal(torch.get_rng_state(), state), "the global RNG was disturbed"
    fresh = build_tiny(name, seed=7).state_dict()
    got = model.state_dict()
    assert all(torch.equal(got[key], fresh[key]) for key in fresh)


def test_reinit_without_seed_draws_from_the_global_rng() -> None:
    a, b = build_tiny("cnn"), build_tiny("cnn")
    torch.manual_seed(11)
    reinit_blocks(a, 2)
    torch.manual_seed(11)
    reinit_blocks(b, 2)
    assert torch.equal(a.head.weight, b.head.weight)
    reinit_blocks(b, 2)
    assert not torch.equal(a.head.weight, b.head.weight)
