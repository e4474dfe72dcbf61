"""Opening the metadata store on PostgreSQL (`SEARCHAPP_DATABASE_URL=postgresql+psycopg://…`).

The first connection is tried once, so a wrong URL or a stopped server is one clear line at
start. Later connections (a pooled one found dead by the pre-ping, a new one for another
thread) are retried with backoff for `retry_seconds`, so a server restart mid-run is waited
out; the Store retries a whole write transaction the same way (see `Store._write`).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError

from searchapp.errors import DatabaseUnavailableError

log = logging.getLogger(__name__)
CONNECT_TIMEOUT_S = 5
FIRST_BACKOFF_S = 0.25
MAX_BACKOFF_S = 4.0
# One lock number for every searchapp schema upgrade on a server (pg_advisory_xact_lock).
MIGRATION_LOCK = 0x5EA2C4A9
T = TypeVar("T")


def is_postgresql_url(database: object) -> bool:
    return isinstance(database, str) and database.startswith("postgresql")


def describe(url: str) -> str:
    """`host:port/database` of a URL, never its password."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        return "an unparsable URL"
    return f"{parsed.host or 'localhost'}:{parsed.port or 5432}/{parsed.database or ''}"


def local_time_zone() -> str:
    """The process's time zone name, so file times read as local on both stores."""
    zone = os.environ.get("TZ", "").lstrip(":")
    if not zone:
        try:
            target = Path("/etc/localtime").resolve()
            parts = target.parts
            zone = "/".join(parts[parts.index("zoneinfo") + 1 :]) if "zoneinfo" in parts else ""
        except (OSError, ValueError):
            zone = ""
    return zone or "UTC"


def unavailable_message(url: str, exc: BaseException) -> str:
    """What went wrong opening the database at `url`, where, and what to do: one line."""
    where = describe(url)
    original = getattr(exc, "orig", None) or exc
    detail = (str(original).strip().splitlines() or [type(original).__name__])[-1][:200]
    lowered = str(original).lower()
    fix = "fix SEARCHAPP_DATABASE_URL"
    if "does not exist" in lowered and "database" in lowered:
        database = make_url(url).database
        return (
            f"The PostgreSQL server at {where} has no database {database!r}: create it "
            f"(`createdb {database}`) or {fix}."
        )
    if "authentication failed" in lowered or "no pg_hba.conf entry" in lowered:
        return (
            f"PostgreSQL at {where} refused the login ({detail}): check the user and password "
            f"in SEARCHAPP_DATABASE_URL and the server's pg_hba.conf."
        )
    return (
        f"Cannot reach PostgreSQL at {where} ({detail}): start the server, check that it "
        f"accepts TCP connections there, or {fix}."
    )


def is_disconnect(exc: BaseException) -> bool:
    """A failure of the connection itself (server gone, restarted, unreachable)."""
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    try:
        import psycopg
    except ImportError:
        return False
    original = getattr(exc, "orig", None) or exc
    return isinstance(original, psycopg.OperationalError)


def with_backoff(action: Callable[[], T], what: str, url: str, retry_seconds: float) -> T:
    """`action()`, tried again with growing pauses while the connection fails, for up to
    `retry_seconds`; then one `DatabaseUnavailableError`."""
    deadline = time.monotonic() + retry_seconds
    pause = FIRST_BACKOFF_S
    attempt = 1
    while True:
        try:
            return action()
        except DBAPIError as exc:
            if not is_disconnect(exc):
                raise
            if time.monotonic() + pause > deadline:
                raise DatabaseUnavailableError(
                    f"Lost the connection to PostgreSQL at {describe(url)} while {what} and "
                    f"could not get it back in {retry_seconds:g} s ({attempt} tries): nothing "
                    "half-written was kept; start the server and run the command again."
                ) from None
            log.warning("PostgreSQL connection lost while %s; retrying in %.2f s", what, pause)
            time.sleep(pause)
            pause = min(pause * 2, MAX_BACKOFF_S)
            attempt += 1


def _session_settings(dbapi_connection: Any, _record: Any) -> None:
    with dbapi_connection.cursor() as cursor:
        cursor.execute("SELECT set_config('TimeZone', %s, false)", (local_time_zone(),))
    dbapi_connection.commit()


def open_postgres(url: str, read_only: bool, retry_seconds: float) -> Engine:
    """An engine on a database whose schema is current (upgraded under an advisory lock, so
    several processes starting at once upgrade it once), or a one-line error."""
    from searchapp.store.migrate import require_current, upgrade_to_head

    if not url.startswith("postgresql+psycopg://"):
        raise DatabaseUnavailableError(
            f"SEARCHAPP_DATABASE_URL must look like postgresql+psycopg://USER:PASSWORD@HOST:PORT/"
            f"DATABASE (the psycopg 3 driver), not {url.split('://')[0]}://…"
        )
    try:
        engine = create_engine(
            url,
            pool_pre_ping=True,
            pool_size=8,
            connect_args={"connect_timeout": CONNECT_TIMEOUT_S},
        )
    except (NoSuchModuleError, ImportError, ArgumentError) as exc:
        raise DatabaseUnavailableError(_driver_message(exc)) from None
    event.listen(engine, "connect", _session_settings)
    try:
        with engine.begin() as conn:
            if read_only:
                require_current(conn, f"at {describe(url)}")
            else:
                conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK})")
                upgrade_to_head(conn)
    except DBAPIError as exc:
        engine.dispose()
        if not is_disconnect(exc):
            raise
        raise DatabaseUnavailableError(unavailable_message(url, exc)) from None
    except BaseException:
        engine.dispose()
        raise
    # From here on a lost connection is waited out: a checkout after a failure tries again.
    event.listen(engine, "do_connect", _retrying_connect(url, retry_seconds))
    return engine


def _driver_message(exc: BaseException) -> str:
    return (
        f"SEARCHAPP_DATABASE_URL names PostgreSQL, but its driver cannot be loaded ({exc}): "
        "install it with `pip install 'searchapp[scale]'` (psycopg 3)."
    )


def _retrying_connect(url: str, retry_seconds: float) -> Callable[..., Any]:
    def connect(dialect: Any, _record: Any, cargs: Any, cparams: Any) -> Any:
        deadline = time.monotonic() + retry_seconds
        pause = FIRST_BACKOFF_S
        while True:
            try:
                return dialect.loaded_dbapi.connect(*cargs, **cparams)
            except dialect.loaded_dbapi.OperationalError:
                if time.monotonic() + pause > deadline:
                    raise
                log.warning(
                    "PostgreSQL at %s unreachable; retrying in %.2f s", describe(url), pause
                )
                time.sleep(pause)
                pause = min(pause * 2, MAX_BACKOFF_S)

    return connect
