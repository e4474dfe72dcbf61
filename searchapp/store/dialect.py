"""What differs between SQLite and PostgreSQL, in one place: the upsert construct and the two
SQL functions the queries use (`likely`, a file time as local ISO text), compiled per dialect."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Table
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.types import Boolean, String


def is_postgresql(conn: Connection) -> bool:
    return conn.dialect.name == "postgresql"


def upsert(conn: Connection, table: Table) -> Any:
    """`INSERT … ON CONFLICT` for the connection's database (both spell it the same way:
    `.on_conflict_do_update(index_elements=…, set_=…)`, `.on_conflict_do_nothing()`)."""
    return (postgresql_insert if is_postgresql(conn) else sqlite_insert)(table)


@contextmanager
def snapshot(engine: Engine) -> Iterator[Connection]:
    """A read-only connection whose statements all see one snapshot of the database."""
    if engine.dialect.name == "postgresql":
        with (
            engine.connect().execution_options(isolation_level="REPEATABLE READ") as conn,
            conn.begin(),
        ):
            conn.exec_driver_sql("SET TRANSACTION READ ONLY")
            yield conn
        return
    with engine.connect() as conn:
        conn.exec_driver_sql("BEGIN")
        yield conn


class likely(FunctionElement[bool]):
    """SQLite's `likely(x)` planner hint (see photo_queries); plain `x` elsewhere."""

    type = Boolean()
    inherit_cache = True


@compiles(likely)
def _likely_plain(element: likely, compiler: SQLCompiler, **kw: Any) -> str:
    return str(compiler.process(element.clauses, **kw))


@compiles(likely, "sqlite")
def _likely_sqlite(element: likely, compiler: SQLCompiler, **kw: Any) -> str:
    return f"likely({compiler.process(element.clauses, **kw)})"


class local_time_of_ns(FunctionElement[str]):
    """Nanoseconds since the epoch as local `YYYY-MM-DDTHH:MM:SS` text (EXIF's form); local
    means the process's time zone on SQLite and the session's (set on connect) on PostgreSQL."""

    type = String()
    inherit_cache = True


@compiles(local_time_of_ns, "sqlite")
def _local_time_sqlite(element: local_time_of_ns, compiler: SQLCompiler, **kw: Any) -> str:
    ns = compiler.process(element.clauses, **kw)
    return f"strftime('%Y-%m-%dT%H:%M:%S', ({ns}) / 1000000000, 'unixepoch', 'localtime')"


@compiles(local_time_of_ns, "postgresql")
def _local_time_postgresql(element: local_time_of_ns, compiler: SQLCompiler, **kw: Any) -> str:
    ns = compiler.process(element.clauses, **kw)
    return f"""to_char(to_timestamp(({ns}) / 1000000000), 'YYYY-MM-DD"T"HH24:MI:SS')"""
