"""Run one of NatMU's unlearning scripts from a local clone, on weights we give it, and save the
model it ends with: the reference side of `benchmarks/fidelity.py`.

Run as a module from a scratch folder laid out as NatMU's scripts expect (the harness builds
it): `idx/<dataset>_idx_<per>%.npy` (the forget rows) in the folder itself and the CIFAR files
under `../data/<dataset>/`. The script is imported from `<clone>/sample-wise` and its own
`main(args)` runs with the arguments its shell script passes, after these changes to the
environment only, none to its logic:

- `torchtoolbox` (imported by utils/data.py for a transform the sample-wise scripts never
  use) is stubbed when it is not installed;
- without CUDA, `.cuda()` on tensors and modules is the identity (salun.py:96-97 moves its
  batches with it), and DataLoaders run in the main process (their 8 workers would only
  compete for the CPU; the order and the transforms' random draws do not depend on it);
- `get_model` is wrapped to keep the network it builds first: the student that main() trains;
- scikit-learn 1.8 removed `LogisticRegression(multi_class=...)`, which utils/mia.py passes: a
  two-class "multinomial" fit equals the default fit with C doubled (its loss is the binary
  one with the weights halved), so the argument is dropped and C doubled.

The trained network is converted to our parameter names and saved as safetensors (`--out`),
with the script's own printed metrics beside it as JSON.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import types
from pathlib import Path

import torch
from safetensors.torch import save_file


def ours_to_natmu(state: dict[str, torch.Tensor], mean, std) -> dict[str, torch.Tensor]:
    """Our resnet18's state dict under NatMU's names: `DefaultModel(net=ResNet18,
    data_normalize=NormalizeByChannelMeanStd)` (sample-wise/utils/util.py:51-66), whose
    normalisation buffers get the statistics our model was trained with."""
    out = {"data_normalize.mean": torch.tensor(mean, dtype=torch.float32),
           "data_normalize.std": torch.tensor(std, dtype=torch.float32)}
    for key, value in state.items():
        out["net." + _rename(key, ours=True)] = value
    return out


def natmu_to_ours(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The inverse of `ours_to_natmu` (the normalisation buffers are dropped)."""
    return {_rename(key[len("net."):], ours=False): value.detach().clone().contiguous()
            for key, value in state.items() if key.startswith("net.")}


_RENAMES = {"stem.0.": "conv1.", "stem.1.": "bn1.", "head.": "linear."}


def _rename(key: str, *, ours: bool) -> str:
    pairs = _RENAMES.items() if ours else ((b, a) for a, b in _RENAMES.items())
    for a, b in pairs:
        if key.startswith(a):
            return b + key[len(a):]
    return key


def _environment(cpu: bool) -> None:
    try:
        importlib.import_module("torchtoolbox.transform")
    except ImportError:
        package, transform = types.ModuleType("torchtoolbox"), types.ModuleType("torchtoolbox.transform")
        transform.Cutout = object
        package.transform = transform
        sys.modules.update({"torchtoolbox": package, "torchtoolbox.transform": transform})
    if cpu:
        torch.Tensor.cuda = lambda self, *args, **kwargs: self
        torch.nn.Module.cuda = lambda self, *args, **kwargs: self
        base = torch.utils.data.DataLoader

        class InProcessLoader(base):
            def __init__(self, *args, **kwargs):
                kwargs["num_workers"], kwargs["pin_memory"] = 0, False
                super().__init__(*args, **kwargs)

        torch.utils.data.DataLoader = InProcessLoader


def _logistic_regression_without_multi_class(mia: types.ModuleType) -> None:
    import inspect

    from sklearn.linear_model import LogisticRegression

    if "multi_class" in inspect.signature(LogisticRegression).parameters:
        return

    def fitted_as_before(*args, multi_class=None, C=1.0, **kwargs):
        return LogisticRegression(*args, C=2 * C if multi_class == "multinomial" else C, **kwargs)

    mia.LogisticRegression = fitted_as_before


def run(clone: Path, script: str, script_args: list[str], out: Path) -> dict:
    sample_wise = (clone / "sample-wise").resolve()
    sys.path.insert(0, str(sample_wise))
    _environment(cpu=not torch.cuda.is_available())
    module = importlib.import_module(script)
    _logistic_regression_without_multi_class(importlib.import_module("utils.mia"))
    built: list[torch.nn.Module] = []
    real_get_model = module.get_model

    def get_model(*args, **kwargs):
        net = real_get_model(*args, **kwargs)
        built.append(net)
        return net

    module.get_model = get_model
    sys.argv = [f"{script}.py", *script_args]
    args = module.get_args()
    args.code_file = module.__file__
    module.set_resumeCKPT(args)
    args = module.update_ckpt(args)
    test_acc, retain_acc, forget_acc, mia = module.main(args)
    save_file(natmu_to_ours(built[0].state_dict()), str(out))
    printed = {"TA": float(test_acc), "RA": float(retain_acc), "FA": float(forget_acc), "mia_entropy": float(mia)}
    out.with_suffix(".json").write_text(json.dumps(printed))
    return printed


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--natmu-repo", type=Path, required=True, help="a local clone of ZhengbaoHe/NatMU")
    parser.add_argument("--script", required=True, choices=["natmu", "amnesiac", "blindspot", "salun"])
    parser.add_argument("--out", type=Path, required=True, help="where to save the trained weights (safetensors)")
    parser.add_argument("script_args", nargs=argparse.REMAINDER, help="-- then the script's own arguments")
    args = parser.parse_args(argv)
    script_args = args.script_args[1:] if args.script_args[:1] == ["--"] else args.script_args
    run(args.natmu_repo, args.script, script_args, args.out)


if __name__ == "__main__":
    main()
