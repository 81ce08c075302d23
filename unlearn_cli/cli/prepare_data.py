"""`unlearn prepare-data`: wiring only; the work is in `unlearn_cli.steps.prepare_data`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from unlearn_cli.cli.options import ForceOption, WorkspaceOption, workspace
from unlearn_cli.cli.output import emit_path


def prepare_data(
    dataset: Annotated[str, typer.Option("--dataset", "-d", help="Dataset name (see `unlearn ls datasets`).")] = "digits",
    source: Annotated[Optional[Path], typer.Option("--source", help="Local archive or extracted folder in the official format.")] = None,
    download: Annotated[bool, typer.Option("--download", help="Fetch the official archive and verify its checksum.")] = False,
    force: ForceOption = False,
    workspace_path: WorkspaceOption = None,
) -> None:
    """Prepare a dataset: uint8 splits in safetensors and a dataset manifest.

    Example: unlearn prepare-data --dataset cifar10 --source ~/cifar-10-python.tar.gz
    """
    # Imported here so `unlearn --help` does not pay for importing torch.
    from unlearn_cli.steps.options import PrepareOptions
    from unlearn_cli.steps.prepare_data import prepare_dataset

    options = PrepareOptions(dataset=dataset, source=source, download=download, force=force)
    emit_path(prepare_dataset(workspace(workspace_path), options))
