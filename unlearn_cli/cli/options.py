"""Options shared by several subcommands, documented once."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from unlearn_cli.artifacts import WORKSPACE_ENV, Workspace

WorkspaceOption = Annotated[
    Optional[Path],
    typer.Option(
        "--workspace", "-w", envvar=WORKSPACE_ENV, show_envvar=True,
        help="Folder holding data/, ckpt/ and manifests/ (default: the current directory).",
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


def workspace(path: Path | None) -> Workspace:
    return Workspace.at(path)
