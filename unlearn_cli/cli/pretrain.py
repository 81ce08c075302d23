"""`unlearn pretrain`: wiring only; the work is in `unlearn_cli.steps.pretrain`."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from unlearn_cli.cli.options import (
    AmpOption,
    ChannelsLastOption,
    CompileOption,
    DeviceOption,
    ForceOption,
    SeedOption,
    TrackerOption,
    WorkspaceOption,
    workspace,
)
from unlearn_cli.cli.output import emit_path
from unlearn_cli.cli.stdin import fill_from_stdin, stdin_is_pipe


def pretrain(
    dataset: Annotated[Optional[str], typer.Option("--dataset", "-d", help="Prepared dataset (name, manifest path, or - for stdin; default: digits, or the manipulation's dataset).")] = None,
    model: Annotated[str, typer.Option("--model", "-m", help="Architecture (see `unlearn ls models`).")] = "cnn",
    recipe: Annotated[str, typer.Option("--recipe", help="Training recipe: natmu, corrective or fast.")] = "fast",
    epochs: Annotated[Optional[int], typer.Option("--epochs", help="Override the recipe's epochs.")] = None,
    steps: Annotated[Optional[int], typer.Option("--steps", help="Override with a number of optimiser steps.")] = None,
    lr: Annotated[Optional[float], typer.Option("--lr", help="Override the peak learning rate.")] = None,
    batch_size: Annotated[Optional[int], typer.Option("--batch-size", help="Override the (global) batch size.")] = None,
    weight_decay: Annotated[Optional[float], typer.Option("--weight-decay", help="Override the weight decay.")] = None,
    drop_last: Annotated[Optional[bool], typer.Option("--drop-last/--keep-last", help="Drop or keep the last partial batch of an epoch (default: the recipe's; natmu and corrective keep it, fast drops it).")] = None,
    normalization: Annotated[Optional[str], typer.Option("--normalization", help="Input normalisation: dataset (its own mean/std), unit ([0, 1] only), natmu or corrective (their code's constants); default: the recipe's. Unlearning and evaluation always use the model's.")] = None,
    seed: SeedOption = 0,
    width: Annotated[float, typer.Option("--width", help="Channel-width multiplier (e.g. 0.25 for tiny models).")] = 1.0,
    device: DeviceOption = None,
    name: Annotated[Optional[str], typer.Option("--name", help="Model name (default: the dataset or manipulation, the model, what differs from the defaults and the seed, e.g. digits-cnn-s0, digits-cnn-w0.25-e3-s0).")] = None,
    manipulation: Annotated[Optional[str], typer.Option("--manipulation", help="Train on the manipulated view of this forget-set manifest (or - for stdin).")] = None,
    val_fraction: Annotated[float, typer.Option("--val-fraction", help="Hold out this seeded, class-balanced share of the train split as a validation split the model never trains on (recorded in its manifest; neither forgotten nor retained later; `evaluate` reports VA on it; `tune` needs it). 0: none.")] = 0.0,
    resume: Annotated[bool, typer.Option("--resume", help="Continue a killed run from its last epoch checkpoint.")] = False,
    amp: AmpOption = None,
    channels_last: ChannelsLastOption = None,
    compile: CompileOption = None,
    tracker: TrackerOption = None,
    force: ForceOption = False,
    workspace_path: WorkspaceOption = None,
) -> None:
    """Train a model from scratch; saves initial and final weights and a per-sample difficulty record.

    Example: unlearn pretrain --dataset cifar10 --model resnet18 --recipe natmu --seed 0

    For tuning: unlearn pretrain --model cnn --val-fraction 0.05

    In a pipe: unlearn prepare-data --dataset cifar10 --source cifar-10-python.tar.gz | unlearn pretrain --model resnet18
    """
    # --dataset has a default, so only a real pipe (never a file redirect) is read implicitly.
    upstream = fill_from_stdin({"--dataset": dataset, "--manipulation": manipulation},
                               {"--dataset": ("dataset",), "--manipulation": ("forget-set",)},
                               read=dataset is None and manipulation is None and stdin_is_pipe(fifo_only=True))
    dataset, manipulation = upstream["--dataset"], upstream["--manipulation"]
    from unlearn_cli.steps.options import PretrainOptions
    from unlearn_cli.steps.pretrain import pretrain as run

    options = PretrainOptions(
        dataset=dataset, model=model, recipe=recipe, epochs=epochs, steps=steps, lr=lr, batch_size=batch_size,
        weight_decay=weight_decay, drop_last=drop_last, normalization=normalization, seed=seed, width=width, device=device, name=name, manipulation=manipulation,
        resume=resume, force=force, amp=amp, channels_last=channels_last, compile=compile,
        val_fraction=val_fraction,
        tracker=tracker,
    )
    path = run(workspace(workspace_path), options)
    if path is not None:  # None on the non-zero ranks of a torchrun launch
        emit_path(path)
