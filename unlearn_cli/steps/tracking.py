"""A finished training run mirrored to the chosen tracker (unlearn_cli/trackers/), after its
artifact is written: a tracker that fails is a warning, and the artifact stays."""

from __future__ import annotations

import logging
from pathlib import Path

import pyarrow as pa

from unlearn_cli.artifacts import Manifest, Workspace
from unlearn_cli.trackers import TrackedRun, TrackerSpec, flatten
from unlearn_cli.trackers.base import finite_numbers

log = logging.getLogger(__name__)


def tracked_run(manifest: Manifest, manifest_path: Path, history: pa.Table | None) -> TrackedRun:
    config = {key: value for key, value in manifest.config.items() if key != "request"}
    tags = {"unlearn.kind": manifest.kind, "unlearn.name": manifest.name, "unlearn.manifest": str(manifest_path),
            "unlearn.tool_version": manifest.tool_version}
    for key in ("method", "dataset", "model", "forget"):
        if isinstance(manifest.config.get(key), str):
            tags[f"unlearn.{key}"] = manifest.config[key]
    return TrackedRun(kind=manifest.kind, name=manifest.name, params=flatten(config),
                      metrics=finite_numbers(manifest.summary), history=history, tags=tags)


def mirror(ws: Workspace, tracker: TrackerSpec | None, manifest: Manifest, manifest_path: Path,
           history: pa.Table | None) -> None:
    if tracker is None:
        return
    try:
        where = tracker.mirror(tracked_run(manifest, manifest_path, history), ws.root / tracker.folder)
    except Exception as error:  # noqa: BLE001  the artifact is written; a tracker is only a view of it
        log.warning("%s: not mirrored to %s (%s: %s); the artifact is complete", manifest.name, tracker.name,
                    type(error).__name__, error)
        return
    log.info("%s: mirrored to %s at %s", manifest.name, tracker.name, where)
