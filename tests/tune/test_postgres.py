"""A study in a real PostgreSQL server that the test starts itself (Debian's `postgresql`
package, which `.ci/run` installs where missing): trials land in the server, and the URL's
password appears nowhere a user can read. Without a server this skips, saying why."""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import pytest

from tests.conftest import Cli
from tests.tune.conftest import FORGET

pytestmark = pytest.mark.slow

PASSWORD = "pg-s3cret-Pw"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _as_postgres(args: list[str], **kwargs) -> subprocess.CompletedProcess:
    # initdb refuses to run as root: the server runs as the package's own user.
    prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    return subprocess.run(prefix + args, capture_output=True, text=True, timeout=60, **kwargs)


@pytest.fixture(scope="module")
def postgres_url():
    binaries = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not binaries:
        pytest.skip("no PostgreSQL server here (Debian's postgresql package is not installed)")
    pytest.importorskip("psycopg", reason="psycopg (the PostgreSQL driver) is not installed")
    bindir = Path(binaries[-1]).parent
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        pytest.skip("running as root without runuser: cannot start PostgreSQL as its own user")
    # Not under pytest's own temporary folder, which only its owner may enter.
    folder = Path(tempfile.mkdtemp(prefix="unlearn-postgres-"))
    data, sockets = folder / "data", folder / "sockets"
    sockets.mkdir()
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres")
        shutil.chown(sockets, "postgres")
    made = _as_postgres([str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "--auth-local=trust",
                         "--auth-host=scram-sha-256"])
    if made.returncode != 0:
        pytest.skip(f"initdb failed: {made.stderr.strip()[:300]}")
    port = _free_port()
    started = _as_postgres([str(bindir / "pg_ctl"), "-D", str(data), "-w", "-l", str(folder / "log"), "-o",
                            f"-p {port} -k {sockets} -c listen_addresses=127.0.0.1", "start"])
    if started.returncode != 0:
        pytest.skip(f"the PostgreSQL server did not start: {started.stderr.strip()[:300]}")
    try:
        # One -c per statement: psql sends several in one -c as one transaction, and CREATE
        # DATABASE cannot run inside one.
        created = _as_postgres([str(bindir / "psql"), "-h", str(sockets), "-p", str(port), "-U", "postgres",
                                "-v", "ON_ERROR_STOP=1", "-c", f"CREATE USER tuner PASSWORD '{PASSWORD}'",
                                "-c", "CREATE DATABASE optuna OWNER tuner"])
        if created.returncode != 0:
            pytest.skip(f"could not create the test database: {created.stderr.strip()[:300]}")
        yield f"postgresql://tuner:{PASSWORD}@127.0.0.1:{port}/optuna"
    finally:
        _as_postgres([str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"])
        shutil.rmtree(folder, ignore_errors=True)


def test_a_study_in_postgresql_never_shows_its_password(tws, postgres_url):
    import optuna

    result = Cli(tws)("tune", "--method", "finetune", "--forget", FORGET, "--trials", "3", "--space", "epochs=1:2",
                      "--final-seeds", "5", "--device", "cpu", "--study", "pg", "--storage", postgres_url)
    assert result.exit_code == 0, result.stderr
    study = optuna.load_study(study_name="pg", storage=postgres_url)
    assert len([t for t in study.trials if t.state.is_finished()]) == 3
    assert PASSWORD not in result.stderr + result.stdout
    folder = tws.root / "tune" / "pg"
    for path in folder.rglob("*"):
        if path.is_file():
            assert PASSWORD.encode() not in path.read_bytes(), path
    manifest = tws.read("tune", "pg")
    assert manifest.config["storage"] == postgres_url.replace(PASSWORD, "***")
    # A wrong password: one line, the password still hidden.
    wrong = postgres_url.replace(PASSWORD, "not-the-" + PASSWORD)
    refused = Cli(tws)("tune", "--method", "finetune", "--forget", FORGET, "--trials", "3", "--study", "pg",
                       "--storage", wrong)
    assert refused.exit_code == 1 and "not-the-" not in refused.stderr and "cannot open the study storage" in refused.stderr
