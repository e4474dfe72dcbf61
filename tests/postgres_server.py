"""A real PostgreSQL server for the tests, started in a temporary directory (Debian's `initdb` +
`pg_ctl` on a free loopback port, trust authentication) and removed afterwards.

PostgreSQL refuses to run as root, so as root the server runs as the unprivileged `postgres`
user where Debian's package created one, else `nobody`, and its directory belongs to that user.
`find_binaries` returns None where PostgreSQL is not installed; the fixtures then skip.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

MISSING_REASON = (
    "PostgreSQL is not installed (no initdb/pg_ctl on PATH or in /usr/lib/postgresql/*/bin): "
    "`apt-get install postgresql` (CI's .ci/run does) to run the PostgreSQL tests"
)


def find_binaries() -> Path | None:
    """The folder holding `initdb`, `pg_ctl` and `postgres`, or None."""
    on_path = shutil.which("initdb")
    candidates = [str(Path(on_path).resolve().parent)] if on_path else []
    candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)
    for folder in candidates:
        if all((Path(folder) / name).is_file() for name in ("initdb", "pg_ctl", "postgres")):
            return Path(folder)
    return None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _server_user() -> str | None:
    """Who runs the server: this user, unless it is root (which PostgreSQL refuses)."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            pwd.getpwnam(name)
            return name
    raise RuntimeError("running as root and no unprivileged user (postgres, nobody) to run as")


@dataclass
class PostgresServer:
    """One server: `url(database)` for SQLAlchemy, `stop()`/`start()` to take it away and back."""

    binaries: Path
    directory: Path
    port: int = field(default_factory=_free_port)
    user: str | None = field(default_factory=_server_user)
    durable: bool = False
    """False (tests): no fsync, for speed. True (benchmarks): PostgreSQL's durable defaults."""
    _databases: int = 0

    @property
    def data(self) -> Path:
        return self.directory / "data"

    def _run(self, *args: str, timeout: float = 60) -> None:
        done = subprocess.run(
            [str(self.binaries / args[0]), *args[1:]],
            capture_output=True,
            text=True,
            timeout=timeout,
            user=self.user,
            cwd=self.directory,
        )
        if done.returncode != 0:
            raise RuntimeError(f"{args[0]} failed ({done.returncode}): {done.stderr.strip()}")

    def init(self) -> None:
        if self.user is not None:
            os.chown(self.directory, pwd.getpwnam(self.user).pw_uid, -1)
        self._run(
            "initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8",
            "--locale=C", "--no-sync",
        )  # fmt: skip

    def start(self) -> None:
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.directory} "
            "-c max_connections=200"
        )
        if not self.durable:
            options += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        log = str(self.directory / "server.log")
        self._run("pg_ctl", "-D", str(self.data), "-o", options, "-l", log, "-w", "start")

    def stop(self, mode: str = "fast") -> None:
        """Stop the server; `immediate` is a crash (no shutdown checkpoint)."""
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(
        self, prefix: str = "test", icu_locale: str | None = None, **settings: str
    ) -> str:
        """A new empty database (collating by `icu_locale` when given, as production databases
        with a language locale do; else bytewise), with these server settings (such as
        synchronous_commit="off"); its SQLAlchemy URL."""
        import psycopg

        self._databases += 1
        name = f"{prefix}_{self._databases}"
        dsn = f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres"
        locale = ""
        if icu_locale is not None:
            locale = f" TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE '{icu_locale}'"
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"{locale}')
            for key, value in settings.items():
                conn.execute(f'ALTER DATABASE "{name}" SET {key} = {value}')
        return self.url(name)

    def wait_ready(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)


@contextlib.contextmanager
def running_server(binaries: Path, durable: bool = False) -> Iterator[PostgresServer]:
    """A started server in a fresh directory, stopped and removed on exit."""
    directory = Path(tempfile.mkdtemp(prefix="searchapp-pg-"))
    server = PostgresServer(binaries, directory, durable=durable)
    try:
        server.init()
        server.start()
        yield server
    finally:
        with contextlib.suppress(RuntimeError, subprocess.TimeoutExpired):
            server.stop("immediate")
        shutil.rmtree(directory, ignore_errors=True)
