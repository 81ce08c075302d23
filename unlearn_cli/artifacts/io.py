"""Heavy-file I/O: tensors in safetensors (never pickle), tables in Parquet."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from unlearn_cli.artifacts.files import atomic_path
from unlearn_cli.errors import ArtifactError


def save_tensors(path: Path, tensors: dict[str, torch.Tensor], metadata: dict[str, str] | None = None) -> None:
    contiguous = {key: value.detach().contiguous().cpu() for key, value in tensors.items()}
    with atomic_path(path) as tmp:
        save_file(contiguous, str(tmp), metadata=metadata)


def load_tensors(path: Path, device: str | torch.device = "cpu") -> dict[str, torch.Tensor]:
    try:
        return load_file(str(path), device=str(device))
    except FileNotFoundError:
        raise ArtifactError(f"missing file {path}", hint="re-run the step that makes it") from None
    except (SafetensorError, OSError, ValueError) as error:
        raise ArtifactError(f"{path} is not a readable safetensors file ({error})",
                            hint="re-run the step that made it with --force") from None


def save_table(path: Path, table: pa.Table) -> None:
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp)


def load_table(path: Path) -> pa.Table:
    try:
        return pq.read_table(path)
    except FileNotFoundError:
        raise ArtifactError(f"missing file {path}", hint="re-run the step that makes it") from None
    except (pa.ArrowException, OSError) as error:
        raise ArtifactError(f"{path} is not a readable Parquet file ({error})",
                            hint="re-run the step that made it with --force") from None
