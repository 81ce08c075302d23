"""`unlearn evaluate`: wiring only; the work is in `unlearn_cli.steps.evaluate`."""

from __future__ import annotations

import math
from typing import Annotated, Optional

import typer
from rich.table import Table

from unlearn_cli.cli.options import (
    DeviceOption,
    ForceOption,
    JsonOption,
    MeasureAmpOption,
    MeasureChannelsLastOption,
    SeedOption,
    WorkspaceOption,
    workspace,
)
from unlearn_cli.cli.output import emit_json, emit_path, stderr
from unlearn_cli.cli.stdin import fill_from_stdin, stdin_is_pipe
from unlearn_cli.errors import InputError


def evaluate(
    run: Annotated[Optional[str], typer.Option("--run", "-r", help="Run to evaluate: an unlearned run or a pretrained model (name, path, or - for stdin).")] = None,
    forget: Annotated[Optional[str], typer.Option("--forget", "-f", help="Forget set (default: the run's own).")] = None,
    reference: Annotated[Optional[str], typer.Option("--reference", help="Retrain run on the same forget set, for the gap metrics.")] = None,
    metrics: Annotated[Optional[str], typer.Option("--metrics", help="Comma-separated metric names (default: every one that applies).")] = None,
    name: Annotated[Optional[str], typer.Option("--name", help="Evaluation name (default: from the run).")] = None,
    seed: SeedOption = 0,
    device: DeviceOption = None,
    amp: MeasureAmpOption = False,
    channels_last: MeasureChannelsLastOption = False,
    json_output: JsonOption = False,
    force: ForceOption = False,
    workspace_path: WorkspaceOption = None,
) -> None:
    """Measure forgetting: FA/RA/TA/UA, class-wise and corrective accuracies, three membership
    attacks, and the gaps to a retrain reference.

    Example: unlearn evaluate --run cifar10-resnet18-s0-per10-s0-badteacher-s0 --reference cifar10-resnet18-s0-per10-s0-retrain-s0

    In a pipe: unlearn unlearn --method scrub --forget F | unlearn evaluate --json
    """
    from unlearn_cli.steps.evaluate import evaluate as run_step
    from unlearn_cli.steps.options import EvaluateOptions

    upstream = fill_from_stdin({"--run": run, "--forget": forget, "--reference": reference},
                               {"--run": ("unlearned", "model"), "--forget": ("forget-set",), "--reference": ()},
                               read=run is None and stdin_is_pipe())
    run, forget = upstream["--run"], upstream["--forget"]
    if run is None:
        raise InputError("nothing to evaluate: give --run", hint="e.g. --run <unlearned run>, or pipe its manifest path in")
    names = tuple(m.strip() for m in metrics.split(",") if m.strip()) if metrics else None
    result = run_step(workspace(workspace_path), EvaluateOptions(
        run=run, forget=forget, reference=reference, metrics=names, name=name, seed=seed, device=device, force=force,
        amp=amp, channels_last=channels_last))
    table = Table(header_style="bold")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key, value in result.metrics.items():
        table.add_row(key, "—" if math.isnan(value) else f"{value:.4g}")
    # The name on its own line: as a table title it would wrap to the table's narrow width.
    stderr.print(f"[bold]evaluation[/] {result.manifest_path.stem}", highlight=False)
    stderr.print(table)
    if json_output:
        emit_json({"manifest": str(result.manifest_path), "metrics": result.metrics})
    else:
        emit_path(result.manifest_path)
