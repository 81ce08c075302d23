"""The workspace: where artifacts live, how names resolve, and validated reads and writes.

Layout (DESIGN.md):
    data/<dataset>/{train,test}.safetensors
    ckpt/<run>.safetensors, ckpt/<run>.init.safetensors
    manifests/<kind>/<name>.json (+ <name>.<table>.parquet beside it)
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from unlearn_cli.artifacts.files import all_or_nothing, atomic_write_bytes, sha256_file
from unlearn_cli.artifacts.manifest import KINDS, FileRef, Manifest, parse_manifest
from unlearn_cli.errors import ArtifactError, ArtifactExistsError, InputError

WORKSPACE_ENV = "UNLEARN_WORKSPACE"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]*$")


def check_name(name: str) -> str:
    """Artifact names become file names: keep them to a safe alphabet."""
    if not _NAME.match(name) or name.endswith(".json"):
        raise InputError(
            f"invalid artifact name '{name}'",
            hint="use letters, digits, '.', '_', '+' and '-', starting with a letter or digit",
        )
    return name


@dataclass(frozen=True)
class Workspace:
    root: Path

    @classmethod
    def at(cls, path: Path | str | None = None) -> Workspace:
        """`--workspace`, else $UNLEARN_WORKSPACE, else the current directory."""
        chosen = path if path is not None else os.environ.get(WORKSPACE_ENV) or "."
        return cls(Path(chosen).expanduser().resolve())

    # --- paths ---------------------------------------------------------------------------
    def manifest_path(self, kind: str, name: str) -> Path:
        assert kind in KINDS, kind
        return self.root / "manifests" / kind / f"{check_name(name)}.json"

    def table_path(self, kind: str, name: str, table: str) -> Path:
        return self.root / "manifests" / kind / f"{check_name(name)}.{table}.parquet"

    def data_path(self, dataset: str, split: str) -> Path:
        return self.root / "data" / dataset / f"{split}.safetensors"

    def ckpt_path(self, run: str, suffix: str = "") -> Path:
        return self.root / "ckpt" / f"{check_name(run)}{suffix}.safetensors"

    def rel(self, path: Path) -> str:
        return Path(path).resolve().relative_to(self.root).as_posix()

    def abs(self, rel: str) -> Path:
        return self.root / rel

    def file_ref(self, path: Path) -> FileRef:
        return FileRef(self.rel(path), sha256_file(path))

    # --- resolution ----------------------------------------------------------------------
    def names(self, kind: str) -> list[str]:
        folder = self.root / "manifests" / kind
        return sorted(p.stem for p in folder.glob("*.json")) if folder.is_dir() else []

    def find(self, kind: str, ref: str | Path) -> Path:
        """A manifest path as given (absolute, or relative to cwd or workspace), or a name."""
        ref_str = str(ref)
        candidates = [Path(ref_str).expanduser()]
        if not Path(ref_str).is_absolute():
            candidates.append(self.root / ref_str)
        for candidate in candidates:
            if candidate.is_file():
                return candidate.resolve()
        if _NAME.match(ref_str) and not ref_str.endswith(".json"):
            by_name = self.manifest_path(kind, ref_str)
            if by_name.is_file():
                return by_name
        known = self.names(kind)
        raise ArtifactError(
            f"no {kind} '{ref_str}' in workspace {self.root}",
            hint=(f"known {kind}s: {', '.join(known)}" if known
                  else "create one first, or point --workspace at the right folder"),
        )

    # --- reading -------------------------------------------------------------------------
    def read(self, kind: str, ref: str | Path, *, verify: bool = True) -> Manifest:
        """Read a manifest by name or path, checking its kind, its files and its parents."""
        path = self.find(kind, ref)
        try:
            text = path.read_text()
        except (OSError, UnicodeDecodeError) as error:
            raise ArtifactError(f"cannot read {path}: {error}", hint="check the file") from None
        manifest = parse_manifest(text, path)
        if manifest.kind != kind:
            raise ArtifactError(f"{path} is a {manifest.kind} manifest, not a {kind}",
                                hint=f"pass a {kind} manifest here")
        if verify:
            self.verify(manifest)
        return manifest

    def read_one_of(self, kinds: tuple[str, ...], ref: str | Path, *, verify: bool = True) -> Manifest:
        """Read a manifest that may be of several kinds (e.g. a run: unlearned or model)."""
        for kind in kinds:
            try:
                path = self.find(kind, ref)
                break
            except ArtifactError:
                continue
        else:
            known = [name for kind in kinds for name in self.names(kind)]
            raise ArtifactError(f"no {' or '.join(kinds)} '{ref}' in workspace {self.root}",
                                hint=f"known: {', '.join(known)}" if known else "create one first")
        try:
            kind = parse_manifest(path.read_text(), path).kind
        except (OSError, UnicodeDecodeError) as error:
            raise ArtifactError(f"cannot read {path}: {error}", hint="check the file") from None
        if kind not in kinds:
            raise ArtifactError(f"{path} is a {kind} manifest, not a {' or '.join(kinds)}",
                                hint=f"pass a {' or '.join(kinds)} manifest here")
        return self.read(kind, path, verify=verify)

    def verify(self, manifest: Manifest) -> None:
        """Every file and every parent must exist and match its recorded sha256."""
        for role, ref in manifest.files.items():
            self._check_ref(ref, missing=f"{manifest.source}: its {role} file {{}} is missing",
                            missing_hint="re-run the step that made it with --force",
                            changed=f"{{}} fails its checksum in {manifest.source}",
                            changed_hint="the file changed after it was written; re-run the step with --force")
        for role, ref in manifest.parents.items():
            self._check_ref(ref, missing=f"{manifest.source}: its parent {role} {{}} is missing",
                            missing_hint="re-create the parent, then this artifact",
                            changed=f"{manifest.source}: its parent {role} {{}} changed since it was made",
                            changed_hint="re-run this step (with --force) on the current parent")

    def _check_ref(self, ref: FileRef, *, missing: str, missing_hint: str, changed: str, changed_hint: str) -> None:
        target = self.abs(ref.path)
        if not target.is_file():
            raise ArtifactError(missing.format(target), hint=missing_hint)
        if sha256_file(target) != ref.sha256:
            raise ArtifactError(changed.format(target), hint=changed_hint)

    # --- writing -------------------------------------------------------------------------
    def check_writable(self) -> None:
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise ArtifactError(f"cannot create workspace {self.root}: {error.strerror or error}",
                                hint="choose a writable --workspace") from None
        if not os.access(self.root, os.W_OK | os.X_OK):
            raise ArtifactError(f"workspace {self.root} is not writable",
                                hint="choose a writable --workspace (or set UNLEARN_WORKSPACE)")

    def check_new(self, kind: str, name: str, force: bool) -> None:
        """Fail before any work when the artifact exists and `--force` was not given."""
        self.check_writable()
        path = self.manifest_path(kind, name)
        if path.exists() and not force:
            raise ArtifactExistsError(f"{kind} '{name}' exists already ({path})",
                                      hint="pass --force to replace it, or choose another --name")

    @contextmanager
    def replacing(self, kind: str, name: str, paths: Iterable[Path]) -> Iterator[None]:
        """Write an artifact all or nothing: inside the block the step writes `paths` and then
        its manifest (`write`). Every path is registered for removal before anything is
        written, and a manifest being replaced (--force) is removed first, so a step that
        fails half-way leaves no artifact at all rather than an old manifest over a mix of
        old, new and missing files. The manifest's presence is what says an artifact is
        complete."""
        manifest = self.manifest_path(kind, name)
        with all_or_nothing() as written:
            written.extend([manifest, *paths])
            manifest.unlink(missing_ok=True)
            yield

    def write(self, manifest: Manifest) -> Path:
        """Write the manifest last, atomically: its presence means the artifact is complete."""
        path = self.manifest_path(manifest.kind, manifest.name)
        atomic_write_bytes(path, manifest.to_json().encode())
        manifest.source = path
        return path

    def parent_ref(self, manifest: Manifest) -> FileRef:
        assert manifest.source is not None
        return self.file_ref(manifest.source)
