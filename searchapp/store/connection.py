"""Opening the SQLite database: read-write in WAL mode, or read-only when the data directory is.

A read-only library (a read-only mount, or files the user may not write) is opened with
`mode=ro`, and `immutable=1` when no WAL file with pending frames is present (then SQLite
needs no `-shm` file, which it could not create); no pragma that writes is issued.
"""

from __future__ import annotations

import os
import sqlite3
import urllib.parse
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine

BUSY_TIMEOUT_MS = 30_000
QUICK_CHECK_MAX_BYTES = 64 * 1024 * 1024


def _writable_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _read_only_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA query_only=ON")
    cursor.close()


def is_read_only(database_path: Path) -> bool:
    """Whether this process cannot write the existing database (or its folder, where SQLite
    keeps its WAL and lock files). `os.access` sees a read-only mount even as root."""
    if not database_path.exists():
        return False
    return not (
        os.access(database_path, os.W_OK) and os.access(database_path.parent, os.W_OK | os.X_OK)
    )


def read_only_uri(database_path: Path) -> str:
    wal = database_path.with_name(database_path.name + "-wal")
    try:
        pending = wal.stat().st_size > 0
    except OSError:
        pending = False
    query = "mode=ro" if pending else "mode=ro&immutable=1"
    return f"file:{urllib.parse.quote(str(database_path.absolute()))}?{query}"


def open_engine(database_path: Path, read_only: bool) -> Engine:
    if read_only:
        uri = read_only_uri(database_path)
        engine = create_engine(
            "sqlite://",
            creator=lambda: sqlite3.connect(uri, uri=True, check_same_thread=False),
        )
        event.listen(engine, "connect", _read_only_pragmas)
        return engine
    engine = create_engine(f"sqlite:///{database_path}", connect_args={"check_same_thread": False})
    event.listen(engine, "connect", _writable_pragmas)
    return engine


def quick_check(engine: Engine) -> str | None:
    """SQLite's `quick_check`: None when the file is sound, else its first complaint."""
    with engine.connect() as conn:
        verdict = str(conn.exec_driver_sql("PRAGMA quick_check(1)").scalar())
    return None if verdict == "ok" else verdict


def open_checked(database_path: Path, read_only: bool) -> Engine:
    """An engine on a database whose schema is current (upgraded, or for a read-only one
    required) and which, when it is small enough for that to be cheap, passes `quick_check`."""
    from searchapp.errors import DamagedLibraryError
    from searchapp.store.failures import damaged_message
    from searchapp.store.migrate import require_current, upgrade_to_head

    existed = database_path.exists()
    if not read_only:
        database_path.parent.mkdir(parents=True, exist_ok=True)
    engine = open_engine(database_path, read_only)
    try:
        if existed and database_path.stat().st_size <= QUICK_CHECK_MAX_BYTES:
            problem = quick_check(engine)
            if problem is not None:
                raise DamagedLibraryError(damaged_message(database_path, problem), problem)
        with engine.begin() as conn:
            if read_only:
                require_current(conn, database_path)
            else:
                upgrade_to_head(conn)
    except BaseException:
        engine.dispose()
        raise
    return engine
