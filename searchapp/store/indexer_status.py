"""What the background indexer is doing, stored where the CLI, the API and the UI can read it:
one status row (rewritten by a heartbeat) and a short log of recent errors with their reasons."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import delete, func, select
from sqlalchemy.engine import Engine

from searchapp.store.dialect import upsert
from searchapp.store.schema import indexer_errors, indexer_status

STATUS_ROW_ID = 1
KEEP_ERRORS = 200
HEARTBEAT_SECONDS = 2.0
STALE_AFTER_SECONDS = 15.0  # no heartbeat for this long: the indexer is not running


@dataclass(frozen=True)
class IndexerStatus:
    """One indexer process's state: `state` is starting, scanning, indexing, idle, stopping or
    stopped; counts are since it started; `updated_at` is its heartbeat (epoch seconds)."""

    state: str
    pid: int
    host: str
    started_at: float
    updated_at: float
    queue_length: int = 0
    rate: float = 0.0
    indexed: int = 0
    removed: int = 0
    failed: int = 0
    last_full_scan_at: float | None = None
    last_full_scan_seconds: float | None = None
    message: str | None = None

    def running(self, now: float) -> bool:
        """Whether the process is alive: it did not say it stopped, and its heartbeat is recent
        (a process killed with SIGKILL, or a machine that lost power, says nothing)."""
        return self.state != "stopped" and now - self.updated_at < STALE_AFTER_SECONDS


@dataclass(frozen=True)
class IndexerError:
    at: float
    path: str | None
    reason: str


class IndexerStatusTable:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def write(self, status: IndexerStatus, errors: Sequence[IndexerError] = ()) -> None:
        """Replace the status and append errors (keeping the newest few), in one transaction."""
        values = dataclasses.asdict(status)
        with self._engine.begin() as conn:
            conn.execute(
                upsert(conn, indexer_status)
                .values(id=STATUS_ROW_ID, **values)
                .on_conflict_do_update(index_elements=[indexer_status.c.id], set_=values)
            )
            if errors:
                conn.execute(
                    indexer_errors.insert(),
                    [{"at": e.at, "path": e.path, "reason": e.reason} for e in errors],
                )
                oldest_kept = select(func.max(indexer_errors.c.id) - KEEP_ERRORS).scalar_subquery()
                conn.execute(delete(indexer_errors).where(indexer_errors.c.id <= oldest_kept))

    def read(self) -> IndexerStatus | None:
        with self._engine.connect() as conn:
            row = conn.execute(
                select(indexer_status).where(indexer_status.c.id == STATUS_ROW_ID)
            ).first()
        if row is None:
            return None
        fields = {f.name for f in dataclasses.fields(IndexerStatus)}
        return IndexerStatus(**{k: v for k, v in row._mapping.items() if k in fields})

    def recent_errors(self, limit: int = 20) -> list[IndexerError]:
        """Newest first."""
        with self._engine.connect() as conn:
            rows = conn.execute(
                select(indexer_errors).order_by(indexer_errors.c.id.desc()).limit(limit)
            ).all()
        return [IndexerError(row.at, row.path, row.reason) for row in rows]
