"""Bring a database to the newest schema with Alembic, on the Store's own connection.

Alembic is imported only when the database is behind: `HEAD_REVISION` names the newest migration
(a test keeps it equal to Alembic's head), so opening a current library costs one query.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection

ALEMBIC_INI = Path(__file__).with_name("alembic.ini")
HEAD_REVISION = "0010_path_collation"


def current_revision(conn: Connection) -> str | None:
    if not inspect(conn).has_table("alembic_version"):
        return None
    value = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    return None if value is None else str(value)


def require_current(conn: Connection, location: object) -> None:
    """A read-only library cannot be upgraded: say so rather than fail on a missing column."""
    from searchapp.errors import ReadOnlyLibraryError

    if current_revision(conn) != HEAD_REVISION:
        raise ReadOnlyLibraryError(
            f"The library {location} was made by another version of searchapp and must be "
            "upgraded, which needs write access: open it once where it is writable."
        )


def upgrade_to_head(conn: Connection) -> None:
    if current_revision(conn) == HEAD_REVISION:
        return
    # The whole upgrade is one SQLite transaction, taken with the write lock at once: a process
    # killed mid-way leaves the schema as it was (SQLite's DDL is transactional, though the
    # driver would otherwise run it outside one), and a second process opening the same library
    # (an indexer and a reader started together) waits, then finds it upgraded.
    # (On PostgreSQL DDL is transactional too; the caller holds an advisory lock instead.)
    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql("BEGIN IMMEDIATE")
    if current_revision(conn) == HEAD_REVISION:
        return
    from alembic import command
    from alembic.config import Config

    config = Config(str(ALEMBIC_INI))
    config.attributes["connection"] = conn
    command.upgrade(config, "head")
