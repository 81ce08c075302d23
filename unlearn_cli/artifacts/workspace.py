"""The workspace: where artifacts live, how names resolve, and validated reads and writes.

Layout (docs/design.md "Workspace layout"):
    data/<dataset>/{train,test}.safetensors
    ckpt/<run>.safetensors, ckpt/<run>.init.safetensors
    manifests/<kind>/<name>.json (+ <name>.<table>.parquet beside it)
    manifests/<kind>/.<name>.lock   while a run writes that artifact

A step writes an artifact in three calls: `check_new(kind, name, force)` before any work
(takes the name's lock, refuses an existing artifact without --force), then
`with replacing(kind, name, paths): <write paths>; write(manifest)`. Inside the block the
files are staged; `write` puts them all in place and the manifest last.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from unlearn_cli.artifacts import lock
from unlearn_cli.artifacts.files import (
    active_stage,
    atomic_write_bytes,
    commit_journal,
    finish_commit,
    sha256_file,
    staged,
)
from unlearn_cli.artifacts.hashcache import cached_sha256
from unlearn_cli.artifacts.manifest import KINDS, FileRef, Manifest, parse_manifest, path_problem
from unlearn_cli.errors import ArtifactError, ArtifactExistsError, InputError, shown
from unlearn_cli.paths import user_path

WORKSPACE_ENV = "UNLEARN_WORKSPACE"
log = logging.getLogger(__name__)
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]*")
MAX_NAME_LENGTH = 150  # file names add up to ~35 characters of suffixes and temporary parts; most systems stop at 255
# Names that would collide with another artifact's files: `<run>.init.safetensors` is the
# init file of <run>, and `<name>.json` the manifest of <name>.
_RESERVED_SUFFIXES = (".json", ".init", ".resume")
AUDIT_KIND = "audit"
# Kinds whose artifact is a folder a user opens (tables, plots and the manifest together):
# kind → the workspace folder that holds one folder per artifact.
FOLDER_KINDS = {AUDIT_KIND: "audits", "tune": "tune"}


def check_name(name: str) -> str:
    """Artifact names become file names: keep them to a safe alphabet, matched whole (a
    trailing newline is no part of a name)."""
    if not isinstance(name, str) or not _NAME.fullmatch(name) or len(name) > MAX_NAME_LENGTH \
            or name.endswith(_RESERVED_SUFFIXES):
        raise InputError(
            f"invalid artifact name '{shown(name)}'",
            hint=f"use up to {MAX_NAME_LENGTH} letters, digits, '.', '_', '+' and '-', starting with "
            f"a letter or digit, not ending in {', '.join(_RESERVED_SUFFIXES)}",
        )
    return name


def name_or_default(given: str | None, default: str) -> str:
    """The `--name` a user gave, else the step's default. A given but empty name is an
    error, not the default: an unset shell variable must not pick (and, with --force,
    replace) the default artifact."""
    return check_name(default if given is None else given)


@dataclass(frozen=True)
class Workspace:
    root: Path

    @classmethod
    def at(cls, path: Path | str | None = None) -> Workspace:
        """`--workspace`, else $UNLEARN_WORKSPACE, else the current directory."""
        chosen = path if path is not None else os.environ.get(WORKSPACE_ENV) or "."
        return cls(user_path(chosen).resolve())

    # --- paths ---------------------------------------------------------------------------
    def manifest_path(self, kind: str, name: str) -> Path:
        assert kind in KINDS, kind
        if kind in FOLDER_KINDS:
            return self.root / FOLDER_KINDS[kind] / check_name(name) / "manifest.json"
        return self.root / "manifests" / kind / f"{check_name(name)}.json"

    def table_path(self, kind: str, name: str, table: str) -> Path:
        return self.root / "manifests" / kind / f"{check_name(name)}.{table}.parquet"

    def data_path(self, dataset: str, split: str) -> Path:
        return self.root / "data" / dataset / f"{split}.safetensors"

    def ckpt_path(self, run: str, suffix: str = "", *, kind: str = "model") -> Path:
        """Weights of a model (`ckpt/<run>.safetensors`) or of an unlearned run
        (`ckpt/unlearned/<run>.safetensors`): a folder per kind, so a run can never overwrite
        a model's weights by taking its name (names are unique per kind, not across kinds)."""
        folder = self.root / "ckpt" if kind == "model" else self.root / "ckpt" / kind
        return folder / f"{check_name(run)}{suffix}.safetensors"

    def lock_path(self, kind: str, name: str) -> Path:
        assert kind in KINDS, kind
        return self.root / "manifests" / kind / f".{check_name(name)}.lock"

    def rel(self, path: Path) -> str:
        resolved = Path(path).resolve()
        if not resolved.is_relative_to(self.root):
            raise ArtifactError(f"{path} is outside workspace {self.root}",
                                hint="pass --workspace <the folder that holds it>")
        return resolved.relative_to(self.root).as_posix()

    def abs(self, rel: str) -> Path:
        """The file a manifest path names, refused before anything is opened unless it is
        relative and resolves (symbolic links followed) inside the workspace."""
        problem = path_problem(rel)
        target = self.root / rel
        if problem is None and not target.resolve().is_relative_to(self.root):
            problem = "leads out of the workspace through a symbolic link"
        if problem is not None:
            raise ArtifactError(f"manifest path '{rel}' {problem}; every path in a manifest must stay "
                                f"inside workspace {self.root}",
                                hint="the manifest was edited by hand or is not from this tool; "
                                "re-run the step that made it with --force")
        return target

    def file_ref(self, path: Path) -> FileRef:
        """Path and checksum of a file the step is writing (its staged content inside
        `replacing`)."""
        stage = active_stage()
        content = stage.content(path) if stage is not None else Path(path)
        return FileRef(self.rel(path), sha256_file(content))

    # --- resolution ----------------------------------------------------------------------
    def names(self, kind: str) -> list[str]:
        if kind in FOLDER_KINDS:
            folder = self.root / FOLDER_KINDS[kind]
            return sorted(p.parent.name for p in folder.glob("*/manifest.json")) if folder.is_dir() else []
        folder = self.root / "manifests" / kind
        return sorted(p.stem for p in folder.glob("*.json")) if folder.is_dir() else []

    def exists(self, kind: str, name: str) -> bool:
        """Whether an artifact of this name has a manifest (a commit its writer did not live
        to finish is finished first). Says nothing of whether it validates: `read` does."""
        path = self.manifest_path(kind, name)
        self._finish_interrupted_commit(path)
        return path.exists()

    def _finish_interrupted_commit(self, manifest: Path) -> None:
        """If a writer died among the renames of its commit, complete them (`finish_commit`)
        under the artifact's lock. A live writer holding the lock is left alone: its commit
        is not interrupted, only under way."""
        if not commit_journal(manifest).exists():
            return
        manifest = manifest.resolve()  # only now: the common case costs one stat
        kind, name = manifest.parent.name, manifest.stem
        folder_kinds = {self.root / folder: kind for kind, folder in FOLDER_KINDS.items()}
        if manifest.name == "manifest.json" and manifest.parent.parent in folder_kinds:
            kind, name = folder_kinds[manifest.parent.parent], manifest.parent.name
        elif manifest.parent.parent != self.root / "manifests":
            return  # not one of this workspace's manifests: nothing of ours to finish
        if kind not in KINDS or not _NAME.fullmatch(name):
            return
        lock_file = self.lock_path(kind, name)
        held_before = lock.holds(lock_file)
        try:
            lock.acquire(lock_file, f"{kind} '{name}'")
        except ArtifactError:
            return
        try:
            if finish_commit(manifest, self.root):
                log.info("finished the interrupted commit of %s '%s'", kind, name)
        finally:
            if not held_before:
                lock.release(lock_file)

    def find(self, kind: str, ref: str | Path) -> Path:
        """A manifest path as given (absolute, or relative to cwd or workspace), or a name.
        Either way the manifest must lie inside the workspace: the paths it lists are
        relative to it."""
        ref_str = str(ref)
        for candidate in self._path_candidates(ref_str):
            if self._is_manifest_file(candidate):
                return self._inside(candidate, ref_str)
        if _NAME.fullmatch(ref_str) and not ref_str.endswith(".json"):
            by_name = self.manifest_path(kind, ref_str)
            if self.exists(kind, ref_str):
                return self._inside(by_name, ref_str)
        known = self.names(kind)
        raise ArtifactError(
            f"no {kind} '{shown(ref_str)}' in workspace {self.root}",
            hint=(f"known {kind}s: {', '.join(known)}" if known
                  else "create one first, or point --workspace at the right folder"),
        )

    def _path_candidates(self, ref: str) -> list[Path]:
        """Where `ref` may be as a path: as given (`~` expanded where it can be) and, if
        relative, inside the workspace. A NUL byte is in no file name: no candidates."""
        if "\0" in ref:
            return []
        given = user_path(ref)
        return [given] if given.is_absolute() else [given, self.root / ref]

    def _is_manifest_file(self, candidate: Path) -> bool:
        """Whether `candidate` is a file (after finishing an interrupted commit of it); a
        path no file system could hold (a name too long, a symlink loop) is simply none."""
        try:
            self._finish_interrupted_commit(candidate)
            return candidate.is_file()
        except (OSError, ValueError, RuntimeError):
            return False

    def _inside(self, path: Path, ref: str) -> Path:
        resolved = path.resolve()
        if not resolved.is_relative_to(self.root):
            raise ArtifactError(f"{ref} is outside workspace {self.root}",
                                hint="pass --workspace <the folder that holds it>")
        return resolved

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
            raise ArtifactError(f"no {' or '.join(kinds)} '{shown(str(ref))}' in workspace {self.root}",
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
        """Every file and every parent must exist and match its recorded sha256 (a file whose
        stat key is unchanged since it was last hashed is not hashed again: `hashcache`)."""
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
        if cached_sha256(target, self.root) != ref.sha256:  # hashed again only once it changed
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

    def check_new(self, kind: str, name: str, force: bool, *, request: dict | None = None) -> Path | None:
        """Before any work: take the name's lock (another run writing it now is an error,
        at once) and fail if the artifact exists and `--force` was not given. The lock is
        held until the artifact is written or the command ends (`lock.release_all`).

        Given the step's `request` (`steps/options.request_of`): an existing artifact made by
        the same request, whose files and parents are unchanged, is the answer already; its
        manifest path is returned (lock given back) and the step does nothing more."""
        self.check_writable()
        path = self.manifest_path(kind, name)
        lock_file = self.lock_path(kind, name)
        lock.acquire(lock_file, f"{kind} '{name}'")
        self._finish_interrupted_commit(path)  # an artifact whose writer died committing exists
        if path.exists() and not force:
            lock.release(lock_file)
            if request is not None and self._made_by(kind, name, request):
                return path
            raise ArtifactExistsError(f"{kind} '{name}' exists already ({path}), made with other settings"
                                      if request is not None else f"{kind} '{name}' exists already ({path})",
                                      hint="pass --force to replace it, or choose another --name")
        return None

    def _made_by(self, kind: str, name: str, request: dict) -> bool:
        try:
            manifest = self.read(kind, name)  # its files and its parents' hashes checked
        except ArtifactError:
            return False
        return manifest.config.get("request") == request

    @contextmanager
    def replacing(self, kind: str, name: str, paths: Iterable[Path]) -> Iterator[None]:
        """Write an artifact all or nothing: inside the block the step writes `paths` and then
        its manifest (`write`). The files are staged under temporary names beside their
        final ones; `write` renames them into place and the manifest last. Until then an
        artifact being replaced (--force) stays whole and valid, and if the block fails
        (or the process is killed) the staged files go and the old artifact is untouched."""
        manifest = self.manifest_path(kind, name)
        lock_file = self.lock_path(kind, name)
        lock.acquire(lock_file, f"{kind} '{name}'")  # held already after check_new
        with staged([manifest, *paths]) as stage:
            yield
        if stage.committed:
            lock.release(lock_file)

    def write(self, manifest: Manifest) -> Path:
        """Write the manifest last, atomically: its presence means the artifact is complete.
        Inside `replacing`, this is the commit: the staged files and the manifest are
        renamed into place (the old manifest is removed first, so no manifest ever lists a
        mix of old and new files)."""
        path = self.manifest_path(manifest.kind, manifest.name)
        atomic_write_bytes(path, manifest.to_json().encode())
        stage = active_stage()
        if stage is not None and stage.covers(path):
            stage.commit(path)
        manifest.source = path
        return path

    def parent_ref(self, manifest: Manifest) -> FileRef:
        assert manifest.source is not None
        return self.file_ref(manifest.source)
