"""Artifact contracts: manifests, atomic writes, safetensors and Parquet I/O, the workspace."""

from unlearn_cli.artifacts import naming
from unlearn_cli.artifacts.files import atomic_path, atomic_write_bytes, sha256_file
from unlearn_cli.artifacts.hashcache import cached_sha256
from unlearn_cli.artifacts.io import load_metadata, load_table, load_tensors, save_table, save_tensors
from unlearn_cli.artifacts.manifest import KINDS, SCHEMA_VERSION, FileRef, Manifest, parse_manifest
from unlearn_cli.artifacts.workspace import WORKSPACE_ENV, Workspace, check_name, name_or_default

__all__ = [
    "KINDS", "SCHEMA_VERSION", "WORKSPACE_ENV", "FileRef", "Manifest", "Workspace",
    "atomic_path", "atomic_write_bytes", "cached_sha256", "check_name", "load_metadata", "load_table", "load_tensors",
    "name_or_default", "naming", "parse_manifest", "save_table", "save_tensors", "sha256_file",
]
