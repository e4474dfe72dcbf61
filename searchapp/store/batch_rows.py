"""The rows of one indexed batch, written with one statement per table (executemany of a single
compiled `INSERT … ON CONFLICT DO UPDATE`), inside the caller's transaction.

Building a statement per row cost more than the database itself (SQLAlchemy's coercion and
cache keys: ~3 ms of Python per photo); one upsert per table with `excluded.*` compiles once.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.engine import Connection

from searchapp.store.dialect import upsert
from searchapp.store.records import EmbeddedFile, FailedFile, FileStat, LinkedFile
from searchapp.store.schema import embeddings, files, images

IN_CHUNK = 500
IMAGE_COLUMNS = ("width", "height", "captured_at", "camera", "orientation")
FILE_COLUMNS = (
    "size", "mtime_ns", "ctime_ns", "inode", "content_hash", "image_id", "status", "error",
    "indexed_at",
)  # fmt: skip


def _chunks(items: Sequence[Any]) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), IN_CHUNK):
        yield items[start : start + IN_CHUNK]


def _upsert_images(conn: Connection, embedded: Sequence[EmbeddedFile]) -> None:
    statement = upsert(conn, images)
    updates: dict[str, Any] = {name: statement.excluded[name] for name in IMAGE_COLUMNS}
    # A picture decoded on the GPU has no perceptual hash: keep the older one.
    updates["phash"] = func.coalesce(statement.excluded.phash, images.c.phash)
    statement = statement.on_conflict_do_update(
        index_elements=[images.c.content_hash], set_=updates
    )
    rows = [
        {
            "content_hash": item.content_hash,
            "width": item.meta.width,
            "height": item.meta.height,
            "captured_at": item.meta.captured_at,
            "camera": item.meta.camera,
            "orientation": item.meta.orientation,
            "phash": item.meta.phash,
        }
        for item in embedded
    ]
    conn.execute(statement, rows)


def _image_ids(conn: Connection, content_hashes: Sequence[str]) -> dict[str, int]:
    found: dict[str, int] = {}
    for chunk in _chunks(sorted(set(content_hashes))):
        query = select(images.c.content_hash, images.c.id).where(images.c.content_hash.in_(chunk))
        found.update({str(row.content_hash): int(row.id) for row in conn.execute(query)})
    return found


def _file_row(
    stat: FileStat,
    content_hash: str | None,
    image_id: int | None,
    status: str,
    error: str | None,
    now: float,
) -> dict[str, Any]:
    return {
        "path": stat.path,
        "size": stat.size,
        "mtime_ns": stat.mtime_ns,
        "ctime_ns": stat.ctime_ns or None,
        "inode": stat.inode or None,
        "content_hash": content_hash,
        "image_id": image_id,
        "status": status,
        "error": error,
        "indexed_at": now,
    }


def write_batch_rows(
    conn: Connection,
    model_id: int,
    embedded: Sequence[EmbeddedFile],
    linked: Sequence[LinkedFile],
    failed: Sequence[FailedFile],
    now: float,
) -> None:
    """Images, their vectors and every file of the batch (in the caller's transaction). A
    linked file's content must already be stored (by an earlier batch, or this one)."""
    if embedded:
        _upsert_images(conn, embedded)
    ids = _image_ids(conn, [i.content_hash for i in embedded] + [f.content_hash for f in linked])
    if embedded:
        statement = upsert(conn, embeddings)
        statement = statement.on_conflict_do_update(
            index_elements=[embeddings.c.image_id, embeddings.c.model_id],
            set_={"vector": statement.excluded.vector},
        )
        vectors = [
            {
                "image_id": ids[item.content_hash],
                "model_id": model_id,
                "vector": item.vector.tobytes(),
            }
            for item in embedded
        ]
        conn.execute(statement, vectors)
    stored: list[EmbeddedFile | LinkedFile] = [*embedded, *linked]
    rows = [
        _file_row(item.stat, item.content_hash, ids[item.content_hash], "ok", None, now)
        for item in stored
    ]
    rows += [_file_row(fail.stat, None, None, "failed", fail.reason, now) for fail in failed]
    if rows:
        statement = upsert(conn, files)
        statement = statement.on_conflict_do_update(
            index_elements=[files.c.path],
            set_={name: statement.excluded[name] for name in FILE_COLUMNS},
        )
        conn.execute(statement, rows)
