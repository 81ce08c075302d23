"""Options shared by several subcommands, documented once."""

from __future__ import annotations

import dataclasses
import functools
import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from unlearn_cli.artifacts import WORKSPACE_ENV, Workspace
from unlearn_cli.train.options import GenericOptions

WorkspaceOption = Annotated[
    Optional[Path],
    typer.Option(
        # The variable is named in the help text, which wraps, not in Typer's `[env var: …]`
        # tag, which an 80-column terminal cuts.
        "--workspace", "-w", envvar=WORKSPACE_ENV, show_envvar=False,
        help=f"Folder holding data/, ckpt/ and manifests/ (default: the current directory, or the variable {WORKSPACE_ENV}).",
    ),
]
ForceOption = Annotated[
    bool, typer.Option("--force", help="Replace an existing artifact of the same name.")
]
# The seeds every library we seed accepts: numpy's legacy and scikit-learn's random_state
# stop at 2**32 - 1, and none takes a negative seed. Checked once, here, for every command.
MAX_SEED = 2**32 - 1
SeedOption = Annotated[int, typer.Option("--seed", min=0, max=MAX_SEED,
                                         help="Random seed; same seed, same result.")]
DeviceOption = Annotated[
    Optional[str],
    typer.Option("--device", help="Torch device, e.g. cpu, cuda, cuda:1 (default: cuda if available)."),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print machine-readable results on stdout.")]
TrackerOption = Annotated[Optional[str], typer.Option(
    "--tracker", help="Also mirror the run's parameters, summary and training curves to tensorboard "
    "(<workspace>/tensorboard) or mlflow (MLFLOW_TRACKING_URI, else <workspace>/mlflow); none: off. "
    "Default: UNLEARN_TRACKER, else none. Needs the extra: pip install 'unlearn-cli[tensorboard]'.")]
# The speed switches of a step that trains (None: the device's default).
AmpOption = Annotated[Optional[bool], typer.Option(
    "--amp/--no-amp", help="bf16 autocast (default: on with CUDA and on CPUs with native bf16).")]
ChannelsLastOption = Annotated[Optional[bool], typer.Option(
    "--channels-last/--no-channels-last",
    help="channels_last memory format (default: on with CUDA and on CPUs with native bf16).")]
CompileOption = Annotated[Optional[bool], typer.Option(
    "--compile/--no-compile", help="torch.compile the model (default: on with CUDA).")]

# The speed switches of a step that measures (evaluate): off unless asked for, so logits are
# float32 whatever precision the model trained in.
MeasureAmpOption = Annotated[bool, typer.Option(
    "--amp/--no-amp", help="bf16 autocast for the forward passes: faster, but the logits are no longer float32 "
    "(default: off, exact).")]
MeasureChannelsLastOption = Annotated[bool, typer.Option(
    "--channels-last/--no-channels-last", help="channels_last memory format with BatchNorm folded (default: off, exact).")]


def with_generic_options(after: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Give a command one option per field of `GenericOptions` (flag, help and type from the
    field), placed after its parameter `after`; the command receives them as one
    `generic: GenericOptions`. So the options are defined once, beside the run's settings."""
    types = GenericOptions.value_types()
    options = [
        inspect.Parameter(f.name, inspect.Parameter.KEYWORD_ONLY, default=None,
                          annotation=Annotated[Optional[types[f.name]],
                                               typer.Option(f.metadata["flag"], help=f.metadata["help"])])
        for f in dataclasses.fields(GenericOptions)
    ]

    def decorate(command: Callable[..., Any]) -> Callable[..., Any]:
        own = [p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in inspect.signature(command, eval_str=True)
               .parameters.values() if p.name != "generic"]
        at = [p.name for p in own].index(after) + 1
        parameters = own[:at] + options + own[at:]

        @functools.wraps(command)
        def wrapper(**kwargs: Any) -> Any:
            generic = GenericOptions(**{p.name: kwargs.pop(p.name) for p in options})
            return command(generic=generic, **kwargs)

        wrapper.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
        wrapper.__annotations__ = {p.name: p.annotation for p in parameters}
        return wrapper

    return decorate


def workspace(path: Path | None) -> Workspace:
    return Workspace.at(path)
