"""The steps as data: each step's options class, its library function, the manifest kind it
writes, whether it wants a GPU and where a killed run keeps its checkpoint. The sweep runs a
node through this table, so a new step is one entry here, not another branch in the executor.

Torch-free: a step's function is imported when it is first called.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from unlearn_cli.artifacts import Workspace
from unlearn_cli.registry import Registry
from unlearn_cli.steps import options as opts


@dataclass(frozen=True)
class StepSpec:
    name: str  # prepare | manipulate | pretrain | forget | unlearn | evaluate | report | query | tune
    kind: str  # the manifest kind it writes
    options: type
    function: str  # "module:function" of its library call, imported lazily
    checkpoint_kind: str | None = None  # a step that trains: the kind whose checkpoint it keeps
    gpu: bool | Callable[[Any], bool] = False  # trains or runs a model: a GPU where there is one

    def run(self, ws: Workspace, options: Any) -> Any:
        module, function = self.function.split(":")
        return getattr(importlib.import_module(module), function)(ws, options)

    def wants_gpu(self, options: Any) -> bool:
        return self.gpu(options) if callable(self.gpu) else self.gpu

    def checkpoint(self, ws: Workspace, name: str) -> Path | None:
        """Where a killed run of this step left its resume checkpoint (None: it keeps none)."""
        return None if self.checkpoint_kind is None else ws.ckpt_path(name, ".resume", kind=self.checkpoint_kind)


STEPS: Registry[StepSpec] = Registry("step")

for _spec in (
    StepSpec("prepare", "dataset", opts.PrepareOptions, "unlearn_cli.steps.prepare_data:prepare_dataset"),
    StepSpec("manipulate", "forget-set", opts.ForgetSetOptions, "unlearn_cli.steps.forget_set:make_forget_set"),
    StepSpec("pretrain", "model", opts.PretrainOptions, "unlearn_cli.steps.pretrain:pretrain",
             checkpoint_kind="model", gpu=True),
    # A forget set ranked by the model's confidence runs the model.
    StepSpec("forget", "forget-set", opts.ForgetSetOptions, "unlearn_cli.steps.forget_set:make_forget_set",
             gpu=lambda options: options.params.get("difficulty") == "confidence"),
    StepSpec("unlearn", "unlearned", opts.UnlearnOptions, "unlearn_cli.steps.unlearn:unlearn",
             checkpoint_kind="unlearned", gpu=True),
    StepSpec("evaluate", "evaluation", opts.EvaluateOptions, "unlearn_cli.steps.evaluate:evaluate", gpu=True),
    StepSpec("report", "report", opts.ReportOptions, "unlearn_cli.steps.report:report"),
    # An audit's per-model forward passes (float32 logits of its rows).
    StepSpec("query", "query", opts.QueryOptions, "unlearn_cli.steps.query:query", gpu=True),
    # A grid's `tune = {...}`: the study whose best preset the method's cells run with.
    StepSpec("tune", "tune", opts.TuneOptions, "unlearn_cli.tune.run:run_tune", gpu=True),
):
    STEPS.add(_spec.name, _spec)
