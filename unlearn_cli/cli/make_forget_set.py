"""`unlearn make-forget-set`: wiring only; the work is in `unlearn_cli.steps.forget_set`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from unlearn_cli.cli.options import DeviceOption, ForceOption, SeedOption, WorkspaceOption, workspace
from unlearn_cli.cli.output import emit_path
from unlearn_cli.cli.stdin import fill_from_stdin, stdin_is_pipe
from unlearn_cli.errors import InputError


def make_forget_set(
    model: Annotated[Optional[str], typer.Option("--model", "-m", help="Pretrained model (name, manifest path, or - for stdin).")] = None,
    dataset: Annotated[Optional[str], typer.Option("--dataset", "-d", help="Dataset, for a manipulation made before pretraining (or - for stdin).")] = None,
    per: Annotated[Optional[int], typer.Option("--per", help="1|10: random %, class-balanced; 101|110: hardest 1 %/10 %.")] = None,
    difficulty: Annotated[str, typer.Option("--difficulty", help="Hardest sets rank by the pretrain 'record' or by 'confidence'.")] = "record",
    fraction: Annotated[Optional[float], typer.Option("--fraction", help="A random fraction in (0, 1).")] = None,
    balance: Annotated[bool, typer.Option("--balance/--no-balance", help="Class-balance --fraction.")] = True,
    forget_class: Annotated[Optional[str], typer.Option("--class", help="Forget a whole class (name or index).")] = None,
    subclass: Annotated[Optional[str], typer.Option("--subclass", help="Forget a fine class inside its superclass (cifar20).")] = None,
    indices: Annotated[Optional[Path], typer.Option("--indices", help="Import train rows (npy, txt, csv, json, parquet).")] = None,
    manipulation: Annotated[Optional[str], typer.Option("--manipulation", help="poison | interclass | labelswap (with --dataset).")] = None,
    size: Annotated[Optional[int], typer.Option("--size", help="Number of manipulated train samples.")] = None,
    known: Annotated[Optional[float], typer.Option("--known", help="Fraction of the manipulated samples the unlearner knows (D_f): with --manipulation, or alone with a model pretrained on one (default 1).")] = None,
    patch_size: Annotated[int, typer.Option("--patch-size", help="Poison trigger side in pixels.")] = 3,
    target: Annotated[str, typer.Option("--target", help="Poison target class (name or index).")] = "0",
    classes: Annotated[Optional[str], typer.Option("--classes", help="Interclass pair, e.g. 3,5 or cat,dog.")] = None,
    seed: SeedOption = 0,
    name: Annotated[Optional[str], typer.Option("--name", help="Forget-set name (default derived from the options).")] = None,
    device: DeviceOption = None,
    force: ForceOption = False,
    workspace_path: WorkspaceOption = None,
) -> None:
    """Choose the data to forget (D_f), or manipulate the training data (corrective setting).

    Example: unlearn make-forget-set --model cifar10-resnet18-s0 --per 110

    In a pipe: unlearn pretrain --dataset cifar10 --model resnet18 | unlearn make-forget-set --per 10

    Corrective setting:
    unlearn make-forget-set --dataset cifar10 --manipulation poison --size 500 --known 0.5

    Another known fraction of that manipulation, for the model pretrained on it:
    unlearn make-forget-set --model cifar10-poison500-known0.5-s0-resnet9 --known 0.2
    """
    from unlearn_cli.steps.forget_set import make_forget_set as run
    from unlearn_cli.steps.options import ForgetSetOptions, ManipulationOptions

    upstream = fill_from_stdin({"--model": model, "--dataset": dataset},
                               {"--model": ("model",), "--dataset": ("dataset",)},
                               read=model is None and dataset is None and stdin_is_pipe())
    model, dataset = upstream["--model"], upstream["--dataset"]
    chosen: dict[str, dict[str, Any]] = {}
    if per is not None:
        chosen["per"] = {"per": per, "difficulty": difficulty}
    if fraction is not None:
        chosen["fraction"] = {"fraction": fraction, "balance": balance}
    if forget_class is not None:
        chosen["class"] = {"target": forget_class}
    if subclass is not None:
        chosen["subclass"] = {"name": subclass}
    if indices is not None:
        chosen["indices"] = {"path": indices}
    if len(chosen) > 1:
        raise InputError(f"choose one kind of forget set, not {' and '.join('--' + k for k in chosen)}",
                         hint="e.g. --per 10")
    manip = None
    if manipulation is not None:
        if size is None:
            raise InputError("--manipulation needs --size N", hint="e.g. --size 500")
        pair = None
        if classes is not None:
            parts = [p.strip() for p in classes.split(",")]
            if len(parts) != 2 or not all(parts):
                raise InputError(f"--classes {classes!r} is not a pair", hint="e.g. --classes 3,5 or --classes cat,dog")
            pair = (parts[0], parts[1])
        manip = ManipulationOptions(kind=manipulation, size=size, known=1.0 if known is None else known,
                                    patch_size=patch_size,
                                    target=target, classes=pair)
    elif known is not None and size is None and not chosen:
        chosen["known"] = {"fraction": known}
    elif known is not None or size is not None:
        raise InputError("--known and --size belong to a manipulation",
                         hint="add --manipulation poison|interclass|labelswap (with --dataset)")
    kind, params = next(iter(chosen.items()), (None, {}))
    options = ForgetSetOptions(model=model, dataset=dataset, kind=kind, params=params, manipulation=manip,
                               seed=seed, name=name, device=device, force=force)
    emit_path(run(workspace(workspace_path), options))
