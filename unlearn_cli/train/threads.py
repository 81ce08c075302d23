"""How many CPU threads torch may use, and how its OpenMP threads wait: chosen before torch
starts its thread pool, from the cores this process can really have.

Why: on a machine that is not idle, OpenMP threads that outnumber the free cores spin at every
barrier, waiting for a thread the kernel has descheduled; the work then burns several times
its CPU time and runs several times slower than it needs to (BENCHMARKS.md, "Busy machine"). Two
things fix it at the root:

- a passive wait policy (`OMP_WAIT_POLICY=PASSIVE`): a waiting thread sleeps instead of
  spinning, so a competitor's core is not also burnt by us. It must be in the environment
  before libgomp initialises, i.e. before `import torch`; `configure_openmp` sets it unless
  the user chose one;
- no more threads than usable cores: the CPU affinity mask and the cgroup CPU quota (a
  container or a Slurm job often sees every core of the node but may use only some), not
  `os.cpu_count()`.

`--threads N` (a global option of `unlearn`) or `UNLEARN_THREADS=N` override the count; every
training and evaluation manifest records what was used.

Torch-free: this module is imported by the CLI's entry point before anything loads torch.
"""

from __future__ import annotations

import math
import os
from collections.abc import MutableMapping
from pathlib import Path

from unlearn_cli.errors import InputError

ENV = "UNLEARN_THREADS"
CGROUP_ROOT = Path("/sys/fs/cgroup")


def configure_openmp(environ: MutableMapping[str, str] | None = None) -> None:
    """Make OpenMP threads sleep rather than spin while they wait, unless the user chose a policy.
    Effective only before torch (libgomp) is first imported."""
    environ = os.environ if environ is None else environ
    environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def cgroup_cpu_limit(root: Path = CGROUP_ROOT) -> float | None:
    """The CPU quota of this process's cgroup, in cores (None: no quota, or none readable).

    cgroup v2 writes `"<quota> <period>"` (or `"max <period>"`) to `cpu.max`; v1 has
    `cpu.cfs_quota_us` (−1: none) and `cpu.cfs_period_us`.
    """
    try:
        v2 = root / "cpu.max"
        if v2.is_file():
            quota, period = v2.read_text().split()[:2]
            return None if quota == "max" else int(quota) / int(period)
        quota_file, period_file = root / "cpu" / "cpu.cfs_quota_us", root / "cpu" / "cpu.cfs_period_us"
        if quota_file.is_file() and period_file.is_file():
            quota = int(quota_file.read_text())
            return None if quota <= 0 else quota / int(period_file.read_text())
    except (OSError, ValueError, ZeroDivisionError):
        return None
    return None


def usable_cores(root: Path = CGROUP_ROOT) -> int:
    """The cores this process may run on: its affinity mask, capped by the cgroup quota."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not on Linux
        cores = os.cpu_count() or 1
    limit = cgroup_cpu_limit(root)
    if limit is not None:
        cores = min(cores, max(1, math.ceil(limit)))
    return max(1, cores)


def parse_threads(value: str | int, what: str = ENV) -> int:
    try:
        threads = int(value)
    except (TypeError, ValueError):
        threads = 0
    if threads < 1:
        raise InputError(f"{what} must be a positive whole number of threads (got {value!r})",
                         hint="e.g. --threads 1 on a busy machine")
    return threads


def requested_threads(environ: MutableMapping[str, str] | None = None) -> int | None:
    """The user's explicit choice (`--threads` sets the environment variable), or None."""
    environ = os.environ if environ is None else environ
    value = environ.get(ENV)
    return None if value is None or value == "" else parse_threads(value)


def choose_threads(environ: MutableMapping[str, str] | None = None, root: Path = CGROUP_ROOT) -> int:
    """The intra-op thread count: the user's, else every usable core."""
    requested = requested_threads(environ)
    return requested if requested is not None else usable_cores(root)


def apply_threads() -> int:
    """Set torch's intra-op thread count to `choose_threads()` and return it."""
    import torch

    threads = choose_threads()
    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)
    return threads
