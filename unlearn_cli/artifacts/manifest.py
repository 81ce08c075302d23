"""The manifest: a small JSON document that makes an artifact self-describing.

Schema (version 1):
    kind, schema, name, created (UTC ISO), tool_version,
    parents: {role: {path, sha256}}  -- the manifests this artifact was made from
    config:  the fully resolved settings that produced it
    files:   {role: {path, sha256}}  -- heavy files, paths relative to the workspace
    summary: a few headline numbers
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from unlearn_cli import __version__
from unlearn_cli.errors import ArtifactError

SCHEMA_VERSION = 1
_TAMPERED_HINT = "the manifest was edited by hand or is not from this tool; re-run the step that made it with --force"
# query: one model's float32 logits on an audit's rows; audit: `unlearn audit`'s statistics
# (its manifest lives in its own folder, audits/<name>/manifest.json: Workspace.manifest_path);
# tune: `unlearn tune`'s study outputs, likewise in tune/<name>/manifest.json.
KINDS = ("dataset", "model", "forget-set", "unlearned", "evaluation", "report", "query", "audit", "tune")


@dataclass(frozen=True)
class FileRef:
    path: str  # relative to the workspace root
    sha256: str


@dataclass
class Manifest:
    kind: str
    name: str
    config: dict[str, Any] = field(default_factory=dict)
    parents: dict[str, FileRef] = field(default_factory=dict)
    files: dict[str, FileRef] = field(default_factory=dict)
    summary: dict[str, Any] = field(default_factory=dict)
    schema: int = SCHEMA_VERSION
    created: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))
    tool_version: str = __version__
    # Where this manifest was read from; not serialised.
    source: Path | None = field(default=None, compare=False, repr=False)

    def to_json(self) -> str:
        data = asdict(self)
        data.pop("source")
        ordered = {key: data[key] for key in ("kind", "schema", "name", "created", "tool_version",
                                              "parents", "config", "files", "summary")}
        return json.dumps(ordered, indent=2, sort_keys=False, allow_nan=True) + "\n"

    def file(self, role: str) -> FileRef:
        try:
            return self.files[role]
        except KeyError:
            raise ArtifactError(
                f"{self.source or self.name}: manifest lists no '{role}' file",
                hint="the artifact is incomplete; re-run the step that made it with --force",
            ) from None

    def parent(self, role: str) -> FileRef:
        try:
            return self.parents[role]
        except KeyError:
            raise ArtifactError(
                f"{self.source or self.name}: manifest has no '{role}' parent",
                hint="the artifact was made by another kind of step",
            ) from None


_DRIVE = re.compile(r"^[A-Za-z]:")


def path_problem(text: str) -> str | None:
    """Why `text` cannot be a manifest's file path (relative to the workspace and staying
    inside it, whatever the platform would make of it), or None if it can be one."""
    if not text or "\0" in text:
        return "is empty or not a path"
    posix = text.replace("\\", "/")
    if posix.startswith("/") or _DRIVE.match(posix):
        return "is absolute"
    if ".." in posix.split("/"):
        return "climbs out of the workspace ('..')"
    return None


def _refs(raw: Any, where: str, path: Path) -> dict[str, FileRef]:
    if not isinstance(raw, dict):
        raise ArtifactError(f"{path}: '{where}' is not an object", hint="the manifest is corrupt")
    refs = {}
    for role, entry in raw.items():
        if not (isinstance(entry, dict) and isinstance(entry.get("path"), str)
                and isinstance(entry.get("sha256"), str)):
            raise ArtifactError(f"{path}: {where}.{role} needs 'path' and 'sha256'",
                                hint="the manifest is corrupt")
        problem = path_problem(entry["path"])
        if problem is not None:
            raise ArtifactError(f"{path}: {where}.{role} path '{entry['path']}' {problem}; "
                                "every path in a manifest must stay inside the workspace",
                                hint=_TAMPERED_HINT)
        refs[role] = FileRef(entry["path"], entry["sha256"])
    return refs


def parse_manifest(text: str, path: Path) -> Manifest:
    """Parse and structurally validate a manifest's JSON (no file checks)."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise ArtifactError(f"{path} is not valid JSON ({error.msg}, line {error.lineno})",
                            hint="the manifest is corrupt; re-run the step with --force") from None
    except (ValueError, RecursionError) as error:
        # Numbers of thousands of digits (ValueError) or arrays nested thousands deep
        # (RecursionError): no manifest of ours looks like that.
        raise ArtifactError(f"{path} is not a manifest ({type(error).__name__}: {error})",
                            hint="the manifest is corrupt; re-run the step with --force") from None
    if not isinstance(data, dict):
        raise ArtifactError(f"{path} is not a manifest object", hint="the manifest is corrupt")
    schema = data.get("schema")
    if schema != SCHEMA_VERSION:
        raise ArtifactError(
            f"{path} has unknown schema {schema!r} (this tool reads schema {SCHEMA_VERSION})",
            hint="re-create it with this version of unlearn",
        )
    missing = [key for key in ("kind", "name", "created", "tool_version") if not isinstance(data.get(key), str)]
    if missing:
        raise ArtifactError(f"{path} lacks {', '.join(missing)}", hint="the manifest is corrupt")
    if data["kind"] not in KINDS:
        raise ArtifactError(f"{path} has unknown kind {data['kind']!r}", hint=f"kinds: {', '.join(KINDS)}")
    for key in ("config", "summary"):
        if not isinstance(data.get(key, {}), dict):
            raise ArtifactError(f"{path}: '{key}' is not an object", hint="the manifest is corrupt")
    return Manifest(
        kind=data["kind"],
        name=data["name"],
        config=data.get("config", {}),
        parents=_refs(data.get("parents", {}), "parents", path),
        files=_refs(data.get("files", {}), "files", path),
        summary=data.get("summary", {}),
        schema=schema,
        created=data["created"],
        tool_version=data["tool_version"],
        source=path,
    )
