"""The one training loop. Pretraining, retraining and every unlearning method run through it.

The loop owns the optimiser step, the per-step schedule, mixed precision, channels_last,
optional torch.compile, exact weight freezing, NaN detection, timing, progress and epoch
checkpoints. What differs between users is passed in: the batches (`BatchSource`) and the
loss of one batch (`Objective`).
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import torch
from torch import nn

from unlearn_cli.errors import TrainingError
from unlearn_cli.train.checkpoint import Checkpointer, TrainState
from unlearn_cli.train.device import autocast as autocast_context
from unlearn_cli.train.distributed import DistContext, all_reduce_sum
from unlearn_cli.train.distributed import current as dist_current
from unlearn_cli.train.history import DEFAULT_EVERY, History
from unlearn_cli.train.progress import progress_bar
from unlearn_cli.train.schedules import Schedule


@dataclass
class StepOutput:
    """What an objective returns for one batch. `logits`, `labels` and `index` are optional and
    feed per-sample statistics (e.g. the difficulty record)."""

    loss: torch.Tensor
    logits: torch.Tensor | None = None
    labels: torch.Tensor | None = None
    index: torch.Tensor | None = None
    per_sample_loss: torch.Tensor | None = None


class Objective(Protocol):
    def __call__(self, model: nn.Module, batch: Any, step: int) -> StepOutput: ...


class BatchSource(Protocol):
    """Batches for epoch `e` as a pure function of `e`; `steps_in(e)` says how many (epochs
    may differ in length, e.g. SCRUB's max passes stop after msteps)."""

    def steps_in(self, epoch: int) -> int: ...
    def epoch(self, epoch: int) -> Iterator[Any]: ...


def run_length(source: BatchSource, *, epochs: int | None, steps: int | None) -> int:
    """The optimiser steps of a run over `source`: `steps`, or every batch of its first
    `epochs` epochs. The one place a run's length is counted."""
    if steps is not None:
        return steps
    if epochs is None:
        raise ValueError("a run needs epochs or steps")
    return sum(source.steps_in(e) for e in range(epochs))


class StepCallback(Protocol):
    """Sees every step's output; keeps its state in tensors so checkpoints can hold it."""

    def on_step(self, output: StepOutput) -> None: ...
    def state(self) -> dict[str, torch.Tensor]: ...
    def load_state(self, state: dict[str, torch.Tensor]) -> None: ...


@dataclass(frozen=True)
class LoopConfig:
    total_steps: int
    device: torch.device
    amp: bool = False  # bf16 autocast (CUDA or CPU); losses are computed from .float() logits
    channels_last: bool = False
    compile: bool = False
    description: str = "train"
    # How often to look at the loss for NaN/inf. Every step costs a device sync on CUDA.
    nan_check_every: int = 1
    history_every: int = DEFAULT_EVERY  # steps between the curve's step records (train/history.py)


@dataclass
class TrainResult:
    steps: int
    epochs: int
    wall_seconds: float  # training time of the whole run, earlier (resumed) processes included
    last_loss: float
    warmup_seconds: float = 0.0  # compilation warm-up of this process, left out of wall_seconds
    resumed_seconds: float = 0.0  # the part of wall_seconds spent by earlier processes
    history: History | None = None  # the run's curves (loss, lr, accuracy per epoch and every N steps)


@dataclass
class FrozenMask:
    """Weights that must stay exactly fixed although their tensor is trained (e.g. SalUn's
    saliency mask). Zeroing gradients is not enough: momentum and weight decay still move a
    weight, so frozen entries are restored after every optimiser step."""

    trainable: dict[nn.Parameter, torch.Tensor]  # bool mask per parameter, True = may change
    _frozen_values: dict[nn.Parameter, torch.Tensor] = field(default_factory=dict)

    def snapshot(self) -> None:
        self._frozen_values = {p: p.detach().clone() for p in self.trainable}

    def mask_gradients(self) -> None:
        for p, mask in self.trainable.items():
            if p.grad is not None:
                p.grad.mul_(mask)

    def restore(self) -> None:
        with torch.no_grad():
            for p, mask in self.trainable.items():
                p.copy_(torch.where(mask, p, self._frozen_values[p]))


def unwrap(model: nn.Module) -> nn.Module:
    """The plain module under DDP and torch.compile wrappers (for state dicts)."""
    while True:
        if hasattr(model, "_orig_mod"):
            model = model._orig_mod
        elif isinstance(model, nn.parallel.DistributedDataParallel):
            model = model.module
        else:
            return model


def _set_lr(optimizer: torch.optim.Optimizer, base_lrs: Sequence[float], factor: float) -> None:
    for group, base in zip(optimizer.param_groups, base_lrs):
        group["lr"] = base * factor


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def train(
    model: nn.Module,
    source: BatchSource,
    objective: Objective,
    optimizer: torch.optim.Optimizer | None,
    schedule: Schedule,
    config: LoopConfig,
    *,
    callbacks: Sequence[StepCallback] = (),
    frozen: FrozenMask | None = None,
    checkpoint: Checkpointer | None = None,
    resume: bool = False,
    keep_eval: Sequence[nn.Module] = (),
) -> TrainResult:
    """Run `config.total_steps` optimiser steps over `source`, epoch by epoch.

    Epoch `e` of the source must depend only on `e` (not on earlier epochs), and checkpoints are
    written at epoch ends; so a run killed at any point and resumed from its last checkpoint
    ends with exactly the weights of an uninterrupted run.

    `keep_eval` modules stay in eval mode while the rest trains: frozen parts of a model
    (CF-k, EU-k) must not update their BatchNorm statistics either."""
    if source.steps_in(0) == 0:
        raise TrainingError("there are no batches to train on", hint="the training set is empty or smaller than one batch")
    dist = dist_current()
    plain = unwrap(model)
    base_lrs = [group["lr"] for group in optimizer.param_groups] if optimizer else []
    step, epoch, wall_before = 0, 0, 0.0
    history = History(config.device, config.history_every)
    if resume:
        if checkpoint is None:
            raise TrainingError("nothing to resume", hint="this step keeps no checkpoints")
        state = checkpoint.load()
        plain.load_state_dict(state.model)
        if optimizer is not None:
            optimizer.load_state_dict(state.optimizer)
            # load_state_dict restores the lr of the moment; the schedule needs the peak.
            base_lrs = [group["initial_lr"] for group in optimizer.param_groups]
        for callback in [*callbacks, history]:
            callback.load_state({k.split("/", 1)[1]: v for k, v in state.extra.items()
                                 if k.startswith(f"{type(callback).__name__}/")})
        step, epoch, wall_before = state.step, state.epoch, state.wall_seconds
    if optimizer is not None:
        for group, base in zip(optimizer.param_groups, base_lrs):
            group["initial_lr"] = base
    if config.channels_last:
        model.to(memory_format=torch.channels_last)
    runner = torch.compile(model) if config.compile else model
    if frozen is not None:
        frozen.snapshot()

    autocast = autocast_context(config.device, config.amp)
    model.train()
    for module in keep_eval:
        module.eval()
    losses = torch.zeros(max(config.nan_check_every, 1), device=config.device)
    epoch_loss = torch.zeros((), device=config.device)  # summed over the epoch, read once at its end
    checked = losses  # the latest window, averaged over DDP ranks
    warmup_seconds = 0.0
    _sync(config.device)
    started = time.perf_counter()

    def elapsed() -> float:  # the run's training seconds so far, earlier processes included
        return wall_before + time.perf_counter() - started - warmup_seconds

    with progress_bar(config.description, total=config.total_steps, completed=step,
                      enabled=dist.is_main) as bar:
        while step < config.total_steps:
            epoch_steps, epoch_images = 0, 0
            epoch_loss.zero_()
            for batch in source.epoch(epoch):
                if step >= config.total_steps:
                    break
                factor = schedule(step)
                if optimizer is not None:
                    _set_lr(optimizer, base_lrs, factor)
                    optimizer.zero_grad(set_to_none=True)
                with autocast:
                    output = objective(runner, batch, step)
                if optimizer is not None:
                    output.loss.backward()
                    if frozen is not None:
                        frozen.mask_gradients()
                    optimizer.step()
                    if frozen is not None:
                        frozen.restore()
                for callback in callbacks:
                    callback.on_step(output)
                losses[step % len(losses)] = output.loss.detach().float()
                epoch_loss += losses[step % len(losses)]
                epoch_steps += 1
                epoch_images += images_in(batch)
                step += 1
                if step % len(losses) == 0 or step == config.total_steps:
                    checked = _mean_over_ranks(losses, dist)
                    _check_finite(checked, step, optimizer)
                if config.compile and step == 1:
                    # Leave compilation out of the recorded time (docs/design.md "Speed switches").
                    _sync(config.device)
                    warmup_seconds = time.perf_counter() - started
                history.on_step(step=step, lr=optimizer.param_groups[0]["lr"] if optimizer else None,
                                seconds=elapsed(), output=output)
                bar.advance(output.loss)
            epoch += 1
            lr = optimizer.param_groups[0]["lr"] if optimizer else None
            mean_loss = epoch_loss / max(epoch_steps, 1)
            bar.epoch_end(epoch=epoch, step=step, loss=mean_loss, lr=lr, images=epoch_images)
            history.epoch_end(epoch=epoch, step=step, loss=mean_loss, lr=lr, images=epoch_images, seconds=elapsed())
            if checkpoint is not None and dist.is_main and step < config.total_steps:
                _sync(config.device)
                checkpoint.save(TrainState(
                    step=step, epoch=epoch,
                    wall_seconds=elapsed(),
                    model={k: v.detach().clone() for k, v in plain.state_dict().items()},
                    optimizer=optimizer.state_dict() if optimizer else {"state": {}, "param_groups": []},
                    extra={f"{type(c).__name__}/{k}": v for c in [*callbacks, history] for k, v in c.state().items()},
                ))
    _sync(config.device)
    wall = wall_before + time.perf_counter() - started - warmup_seconds
    last_loss = float(checked[(step - 1) % len(checked)]) if step else math.nan
    return TrainResult(steps=step, epochs=epoch, wall_seconds=wall, last_loss=last_loss,
                       warmup_seconds=warmup_seconds, resumed_seconds=wall_before, history=history)


def images_in(batch: Any) -> int:
    """How many images a batch holds, for the images/s of the progress log: the rows of a
    tensor, of a `Batch`'s `x`, of every batch inside a dataclass (`PairedBatch`,
    `PhaseBatch`), or of the first element of a tuple such as (x, y)."""
    if isinstance(batch, torch.Tensor):
        return int(batch.shape[0]) if batch.dim() else 0
    x = getattr(batch, "x", None)
    if isinstance(x, torch.Tensor):
        return images_in(x)
    if dataclasses.is_dataclass(batch) and not isinstance(batch, type):
        return sum(images_in(getattr(batch, f.name)) for f in dataclasses.fields(batch))
    if isinstance(batch, (tuple, list)) and batch:
        return images_in(batch[0])
    return 0


def _mean_over_ranks(losses: torch.Tensor, dist: DistContext) -> torch.Tensor:
    """The window of batch losses averaged over DDP ranks: the loss of the global batch.
    Every rank then reports the same last loss as a single process would, and every rank
    sees a NaN at the same step, so they raise together instead of one rank exiting while
    the others wait in the next gradient all-reduce."""
    if not dist.enabled:
        return losses
    return all_reduce_sum(losses.clone()) / dist.world_size


def _check_finite(losses: torch.Tensor, step: int, optimizer: torch.optim.Optimizer | None) -> None:
    finite = torch.isfinite(losses)
    if bool(finite.all()):
        return
    window = len(losses)
    first_bad = int((~finite).nonzero()[0]) if window > 1 else 0
    bad_step = step - ((step - 1) % window + 1) + first_bad + 1 if window > 1 else step
    lr = optimizer.param_groups[0]["lr"] if optimizer else float("nan")
    raise TrainingError(
        f"the loss became {float(losses[first_bad])} at step {bad_step} (lr {lr:.4g})",
        hint="lower --lr; the last epoch checkpoint is kept, so --resume continues from it",
    )
