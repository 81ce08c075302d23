"""`UnlearnContext`: everything a method may touch, and the one way it trains.

The `unlearn` step builds the context from the artifacts (model, forget set, dataset) and hands
it to the method; a method never reads or writes the workspace. The context owns the mapping
from the training view (labels, triggers, D_f / D_r) to batch loaders, the models a method
derives from the original (a frozen teacher, a fresh random-init copy, the saved initial
weights), and `fit`, which wraps the one training loop with the resolved recipe, the speed
switches, DDP and checkpointing.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from unlearn_cli.data.augment import AugmentSpec
from unlearn_cli.data.loader import BatchLoader, DeviceSplit
from unlearn_cli.data.prepared import DatasetInfo
from unlearn_cli.errors import TrainingError
from unlearn_cli.forget.view import TrainingView
from unlearn_cli.models.architecture import Architecture
from unlearn_cli.train import distributed
from unlearn_cli.train.checkpoint import Checkpointer
from unlearn_cli.train.device import SpeedSwitches
from unlearn_cli.train.inference import eval_loader
from unlearn_cli.train.loop import FrozenMask, LoopConfig, Objective, StepCallback, TrainResult, train
from unlearn_cli.train.optim import build_optimizer
from unlearn_cli.train.recipes import Recipe
from unlearn_cli.train.schedules import Schedule, build_schedule


def derive_seed(seed: int, purpose: str) -> int:
    """A 63-bit seed for one purpose of a run (a loader, a random model, random labels), so
    that different draws of the same run never share a stream."""
    digest = hashlib.blake2b(f"unlearn/{seed}/{purpose}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") & (2**63 - 1)


@dataclass(frozen=True)
class Training:
    """The resolved generic options: recipe (optimiser, batch, length, schedule) and
    whether training batches are augmented."""

    recipe: Recipe
    augment: bool



@dataclass
class UnlearnContext:
    model: nn.Module  # the pretrained model, on the device; the method may change it in place
    arch: Architecture
    info: DatasetInfo
    view: TrainingView
    train_split: DeviceSplit
    device: torch.device
    seed: int
    training: Training | None  # None for methods that do not train
    switches: SpeedSwitches
    description: str = "unlearn"
    checkpoint: Checkpointer | None = None
    resume: bool = False
    init_state_loader: Callable[[], dict[str, torch.Tensor]] | None = None
    dist: distributed.DistContext = field(default_factory=distributed.DistContext)
    fit_result: TrainResult | None = None
    _original: dict[str, torch.Tensor] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        # A CPU copy of the pretrained weights, before any method touches the model.
        self._original = {k: v.detach().to("cpu", copy=True) for k, v in self.model.state_dict().items()}
        self._laid_out(self.model)

    def _laid_out(self, model: nn.Module) -> nn.Module:
        """`model` in the run's memory format, so passes outside `fit` (teachers, SSD's and
        SalUn's gradient passes, NatMU's confusions) get the speed switch too."""
        if self.switches.channels_last:
            model.to(memory_format=torch.channels_last)
        return model

    # ---- the data ------------------------------------------------------------------------

    @property
    def forget_rows(self) -> np.ndarray:
        return np.flatnonzero(self.view.forget).astype(np.int64)

    @property
    def retain_rows(self) -> np.ndarray:
        return np.flatnonzero(self.view.retain).astype(np.int64)

    @property
    def all_rows(self) -> np.ndarray:
        """D_r ∪ D_f: every row the model trained on (never a held-out one)."""
        return np.flatnonzero(self.view.trained).astype(np.int64)

    @property
    def num_classes(self) -> int:
        return self.info.num_classes

    def augment_spec(self, augment: bool | None = None) -> AugmentSpec | None:
        on = self.training.augment if augment is None and self.training is not None else bool(augment)
        return AugmentSpec.default_for(self.info.image_size, self.info.name) if on else None

    def loader(self, rows: np.ndarray, *, purpose: str, labels: np.ndarray | None = None,
               augment: bool | None = None, batch_size: int | None = None, shuffle: bool = True,
               drop_last: bool | None = None) -> BatchLoader:
        """Batches over `rows` of the training view (its labels and triggers unless `labels`
        overrides the label of every train row). `purpose` names the draw ("retain",
        "forget", …): loaders of one run draw independent, seeded streams. `augment` None
        means the run's --augment setting; `drop_last` None the run's recipe, which drops a
        partial last batch only when the rows fill at least one whole batch."""
        if batch_size is None:
            if self.training is None:
                raise TrainingError("this method does not train, so it has no batch size",
                                    hint="pass batch_size explicitly")
            batch_size = self.training.recipe.batch_size
        if drop_last is None:
            drop_last = self.training is not None and self.training.recipe.drop_last and len(rows) >= batch_size
        return BatchLoader(
            self.train_split, batch_size=batch_size, mean=self.info.mean, std=self.info.std,
            indices=rows, **self.view.loader_fields(labels),
            augment=self.augment_spec(augment), shuffle=shuffle, drop_last=drop_last,
            seed=derive_seed(self.seed, purpose), rank=self.dist.rank, world_size=self.dist.world_size,
            channels_last=self.switches.channels_last,
        )

    def eval_loader(self, rows: np.ndarray, *, labels: np.ndarray | None = None,
                    batch_size: int | None = None) -> BatchLoader:
        """Every row of `rows` once, in order, un-augmented (passes without training), in
        batches sized to the device unless `batch_size` is given."""
        return eval_loader(self.train_split, self.info.mean, self.info.std, rows=rows,
                           **self.view.loader_fields(labels), batch_size=batch_size,
                           channels_last=self.switches.channels_last)

    # ---- the models ----------------------------------------------------------------------

    def original_state(self) -> dict[str, torch.Tensor]:
        """The pretrained weights as they were before the method ran (CPU tensors)."""
        return self._original

    def frozen_original(self) -> nn.Module:
        """A copy of the pretrained model as a teacher: eval mode, no gradients."""
        teacher = self.arch.build()
        teacher.load_state_dict(self._original)
        return _frozen(self._laid_out(teacher.to(self.device)))

    def fresh_model(self, purpose: str = "fresh") -> nn.Module:
        """A random-init model of the same architecture, seeded by (run seed, purpose), drawn
        without disturbing the global RNG."""
        cuda = [self.device.index or 0] if self.device.type == "cuda" else []
        with torch.random.fork_rng(devices=cuda):
            torch.manual_seed(derive_seed(self.seed, purpose))
            model = self.arch.build()
        return self._laid_out(model.to(self.device))

    def init_weights(self) -> dict[str, torch.Tensor]:
        """The model's saved initial weights (pretrain's `init` file)."""
        if self.init_state_loader is None:
            raise TrainingError("this model has no saved initial weights",
                                hint="pretrain it again with this version of unlearn")
        return self.init_state_loader()

    # ---- training ------------------------------------------------------------------------

    def fit(self, model: nn.Module, source: Any, objective: Objective, *,
            parameters: Sequence[nn.Parameter] | None = None, total_steps: int | None = None,
            schedule: Schedule | None = None, frozen: FrozenMask | None = None,
            keep_eval: Sequence[nn.Module] = (), callbacks: Sequence[StepCallback] = ()) -> TrainResult:
        """Train `model` on `source` with the run's recipe through the one loop.

        `parameters` (default: those requiring grad) are optimised; `schedule` overrides the
        recipe's (a method with per-epoch rules, e.g. SCRUB); `keep_eval` modules stay in eval
        mode. The run's checkpoint belongs to the one `fit` of a method, so it is resumable."""
        if self.training is None:
            raise TrainingError("this method does not train", hint="it has no recipe")
        if self.fit_result is not None:
            raise TrainingError("a method may call fit once per run", hint="combine the passes in one source")
        recipe = self.training.recipe
        params = list(parameters) if parameters is not None else [p for p in model.parameters() if p.requires_grad]
        optimizer = build_optimizer(recipe.optimizer, params)
        total = total_steps if total_steps is not None else recipe.total_steps(source)
        if schedule is None:
            schedule = build_schedule(recipe.schedule, total, source.steps_in(0))
        runner = model
        if self.dist.enabled:
            runner = distributed.wrap_model(model, self.device, channels_last=self.switches.channels_last)
        resume = self.resume and self.checkpoint is not None and self.checkpoint.exists()
        self.fit_result = train(
            runner, source, objective, optimizer, schedule,
            LoopConfig(total_steps=total, device=self.device, amp=self.switches.amp,
                       channels_last=self.switches.channels_last, compile=self.switches.compile,
                       description=self.description,
                       nan_check_every=1 if self.device.type == "cpu" else 25),
            callbacks=callbacks, frozen=frozen, checkpoint=self.checkpoint, resume=resume, keep_eval=keep_eval,
        )
        return self.fit_result


def _frozen(model: nn.Module) -> nn.Module:
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model
