"""`--tracker tensorboard`: event files under `<workspace>/tensorboard/<kind>/<name>/`.

    tensorboard --logdir <workspace>/tensorboard

Curves go in as scalars at their optimiser step (`epoch/loss`, `epoch/accuracy`, `epoch/lr`,
`step/loss`, `step/lr`), the summary as `summary/<key>` at the last step, the parameters
as a markdown table in the run's text tab. A run made again (`--force`) replaces its folder,
so TensorBoard never overlays two runs of one name.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from unlearn_cli.trackers.base import TRACKERS, TrackedRun, TrackerSpec


def _markdown(params: dict[str, object]) -> str:
    lines = ["| parameter | value |", "|---|---|"]
    lines += [f"| {key} | {value} |" for key, value in sorted(params.items())]
    return "\n".join(lines)


def mirror(run: TrackedRun, folder: Path) -> str:
    from torch.utils.tensorboard import SummaryWriter

    log_dir = folder / run.kind / run.name
    if log_dir.exists():
        shutil.rmtree(log_dir)
    writer = SummaryWriter(log_dir=str(log_dir))
    try:
        for scope, key, step, value in run.curve_points():
            writer.add_scalar(f"{scope}/{key}", value, step)
        for key, value in run.metrics.items():
            writer.add_scalar(f"summary/{key}", value, run.last_step)
        writer.add_text("parameters", _markdown(dict(run.params)), 0)
        writer.add_text("tags", _markdown(dict(run.tags)), 0)
    finally:
        writer.close()
    return str(log_dir)


TRACKERS.add("tensorboard", TrackerSpec(
    name="tensorboard", module="tensorboard", extra="tensorboard", folder="tensorboard",
    description="TensorBoard event files in <workspace>/tensorboard (tensorboard --logdir <workspace>/tensorboard)",
    mirror=mirror,
))
