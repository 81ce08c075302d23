"""BatchNorm folded into the convolution before it, for eval-mode forward passes.

In eval mode a BatchNorm after a convolution is an affine map per channel, so it can be
merged into the convolution's weight and bias: the same function (up to float rounding) with
one memory-bound pass fewer per layer. On a CPU that pass was 18 % of a ResNet-18 (width
0.25) evaluation in bf16 (BENCHMARKS.md). Training never uses this: BatchNorm there normalises
with the batch's statistics and updates its running ones.
"""

from __future__ import annotations

import copy

from torch import fx, nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

_PAIRS = ((nn.Conv1d, nn.BatchNorm1d), (nn.Conv2d, nn.BatchNorm2d), (nn.Conv3d, nn.BatchNorm3d))


def _module_of(node: fx.Node, modules: dict[str, nn.Module]) -> nn.Module | None:
    if node.op != "call_module" or not isinstance(node.target, str):
        return None
    return modules.get(node.target)


def _replace_module(modules: dict[str, nn.Module], target: str, new: nn.Module) -> None:
    parent_name, _, child = target.rpartition(".")
    setattr(modules[parent_name] if parent_name else modules[""], child, new)
    modules[target] = new


def fold_batchnorm(model: nn.Module) -> nn.Module:
    """An eval-mode copy of `model` in which every BatchNorm fed only by a convolution is
    folded into it; `model` itself is left untouched. A model that torch.fx cannot trace
    (data-dependent control flow) is returned as an eval-mode copy, unfolded."""
    folded = copy.deepcopy(model).eval()
    try:
        traced = fx.symbolic_trace(folded)
    except Exception:  # fx raises several error types for untraceable code; folding is only an optimisation
        return folded
    modules = dict(traced.named_modules())
    for node in list(traced.graph.nodes):
        bn = _module_of(node, modules)
        if not node.args or not isinstance(node.args[0], fx.Node):
            continue
        source = node.args[0]
        conv = _module_of(source, modules)
        if not any(isinstance(conv, c) and type(bn) is b for c, b in _PAIRS):
            continue
        if len(source.users) > 1 or not bn.track_running_stats:  # the conv's output is also used elsewhere
            continue
        _replace_module(modules, source.target, fuse_conv_bn_eval(conv, bn))
        node.replace_all_uses_with(source)
        traced.graph.erase_node(node)
    traced.graph.lint()
    traced.recompile()
    return traced


def count_batchnorms(model: nn.Module) -> int:
    """BatchNorm layers a module still calls (for tests and diagnostics)."""
    if isinstance(model, fx.GraphModule):
        modules = dict(model.named_modules())
        return sum(isinstance(_module_of(n, modules), nn.modules.batchnorm._BatchNorm) for n in model.graph.nodes)
    return sum(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules())

