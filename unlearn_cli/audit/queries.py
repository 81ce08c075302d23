"""The query artifacts of an audit read into arrays (torch-free: safetensors' numpy reader).

Every query must validate (`Workspace.read` checks its file's sha256 and its run's), hold the
audit's rows in the audit's order, and agree with the other queries on labels and classes:
anything else is an `ArtifactError` naming the query, never a silent mix.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from unlearn_cli.artifacts import Manifest, Workspace
from unlearn_cli.errors import ArtifactError

ARRAYS = ("rows", "labels", "logits", "retain_rows", "retain_labels", "retain_logits",
          "test_rows", "test_labels", "test_logits")


@dataclass(frozen=True)
class SideQueries:
    """One side's models (unlearned or retrained), stacked model-first."""

    manifests: list[Manifest]
    logits: np.ndarray  # (models, rows, flips, classes)
    retain_logits: np.ndarray  # (models, retain rows, classes)
    test_logits: np.ndarray  # (models, test rows, classes)
    accuracy: dict[str, np.ndarray]  # retain/test/forget accuracy per model (percent)


@dataclass(frozen=True)
class AuditQueries:
    rows: np.ndarray
    labels: np.ndarray
    retain_rows: np.ndarray
    retain_labels: np.ndarray
    test_rows: np.ndarray
    test_labels: np.ndarray
    unlearned: SideQueries
    retrained: SideQueries


def _read_arrays(ws: Workspace, manifest: Manifest) -> dict[str, np.ndarray]:
    from safetensors import SafetensorError
    from safetensors.numpy import load_file

    path = ws.abs(manifest.file("logits").path)
    try:
        arrays = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as error:
        raise ArtifactError(f"{path} is not a readable safetensors file ({error})",
                            hint="re-run the audit: it makes the damaged query again") from None
    missing = [key for key in ARRAYS if key not in arrays]
    if missing:
        raise ArtifactError(f"query {manifest.name} lacks {', '.join(missing)}",
                            hint="re-run the audit: it makes the query again")
    return arrays


def _side(ws: Workspace, names: list[str], expected: dict[str, np.ndarray]) -> SideQueries:
    manifests, logits, retain, test = [], [], [], []
    accuracy: dict[str, list[float]] = {"retain": [], "test": [], "forget": []}
    for name in names:
        manifest = ws.read("query", name)
        arrays = _read_arrays(ws, manifest)
        for key, value in expected.items():
            if not np.array_equal(arrays[key], value):
                raise ArtifactError(f"query {name} holds other {key.replace('_', ' ')} than the audit's",
                                    hint="re-run the audit with --force to query every model again")
        manifests.append(manifest)
        logits.append(arrays["logits"])
        retain.append(arrays["retain_logits"])
        test.append(arrays["test_logits"])
        for split in accuracy:
            accuracy[split].append(float(manifest.summary.get(f"{split}_accuracy", np.nan)))
    shapes = {array.shape[-1] for array in logits}
    if len(shapes) != 1:
        raise ArtifactError(f"the queries of {names[0]}… have different numbers of classes",
                            hint="every model of an audit must share its architecture's outputs")
    return SideQueries(manifests, np.stack(logits), np.stack(retain), np.stack(test),
                       {split: np.asarray(values) for split, values in accuracy.items()})


def read_queries(ws: Workspace, unlearned: list[str], retrained: list[str], rows: np.ndarray,
                 retain: np.ndarray, test: np.ndarray) -> AuditQueries:
    first = _read_arrays(ws, ws.read("query", retrained[0]))
    expected = {"rows": rows, "retain_rows": retain, "test_rows": test,
                "labels": first["labels"], "retain_labels": first["retain_labels"], "test_labels": first["test_labels"]}
    return AuditQueries(rows, first["labels"], retain, first["retain_labels"], test, first["test_labels"],
                        _side(ws, unlearned, expected), _side(ws, retrained, expected))


def read_shadow_queries(ws: Workspace, names: list[str], rows: np.ndarray) -> tuple[SideQueries, np.ndarray]:
    """The halves design's K queries (one side), and the rows' labels."""
    first = _read_arrays(ws, ws.read("query", names[0]))
    expected = {"rows": rows, "labels": first["labels"]}
    return _side(ws, names, expected), first["labels"]
