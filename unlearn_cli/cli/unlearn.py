"""`unlearn unlearn`: wiring only; the work is in `unlearn_cli.steps.unlearn`."""

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
    with_generic_options,
    workspace,
)
from unlearn_cli.cli.output import emit_path
from unlearn_cli.cli.stdin import fill_from_stdin, stdin_is_pipe
from unlearn_cli.train.options import GenericOptions


@with_generic_options(after="preset")
def unlearn(
    method: Annotated[str, typer.Option("--method", help="Unlearning method (see `unlearn ls methods`).")],
    forget: Annotated[Optional[str], typer.Option("--forget", "-f", help="Forget set (name, manifest path, or - for stdin).")] = None,
    model: Annotated[Optional[str], typer.Option("--model", "-m", help="Pretrained model (default: the one the forget set was made from).")] = None,
    param: Annotated[Optional[list[str]], typer.Option("--param", "-p", help="Method parameter key=value (repeatable), e.g. --param alpha=0.5.")] = None,
    preset: Annotated[Optional[str], typer.Option("--preset", help="Tuned settings of a seed paper (see `unlearn ls presets`).")] = None,
    seed: SeedOption = 0,
    device: DeviceOption = None,
    amp: AmpOption = None,
    channels_last: ChannelsLastOption = None,
    compile: CompileOption = None,
    name: Annotated[Optional[str], typer.Option("--name", help="Run name (default <forget set>-<method>[-<params>]-s<seed>).")] = None,
    resume: Annotated[bool, typer.Option("--resume", help="Continue a killed run from its last epoch checkpoint.")] = False,
    tracker: TrackerOption = None,
    force: ForceOption = False,
    workspace_path: WorkspaceOption = None,
    generic: GenericOptions = GenericOptions(),
) -> None:
    """Unlearn a forget set from a pretrained model with one method; writes the unlearned weights.

    Example: unlearn unlearn --method scrub --forget digits-cnn-s0-per10-s0

    In a pipe: unlearn make-forget-set --model M --per 10 | unlearn unlearn --method scrub | unlearn evaluate
    """
    from unlearn_cli.params import parse_assignments
    from unlearn_cli.steps.options import UnlearnOptions
    from unlearn_cli.steps.unlearn import unlearn as run

    upstream = fill_from_stdin({"--forget": forget, "--model": model},
                               {"--forget": ("forget-set",), "--model": ("model",)},
                               read=forget is None and model is None and stdin_is_pipe())
    options = UnlearnOptions(
        method=method, model=upstream["--model"], forget=upstream["--forget"],
        params=parse_assignments(param or []), preset=preset,
        generic=generic,
        seed=seed, device=device, amp=amp, channels_last=channels_last, compile=compile, name=name,
        force=force, resume=resume,
        tracker=tracker,
    )
    path = run(workspace(workspace_path), options)
    if path is not None:  # None on the non-zero ranks of a torchrun launch
        emit_path(path)
