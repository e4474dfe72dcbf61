"""What search reads back from the store: vectors by model, the files behind embedding ids,
an indexed file's stored vector, counts and failures."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray
from sqlalchemy import and_, func, select
from sqlalchemy.engine import Engine

from searchapp.store.records import FileHit
from searchapp.store.schema import embeddings, files, images
from searchapp.store.vector_pages import vector_pages

SQL_CHUNK = 500


def _chunks(items: Sequence[Any], size: int = SQL_CHUNK) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class VectorReads:
    """Read-only queries over embeddings and the files behind them."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    # -- reading ----------------------------------------------------------------------------

    def iter_vectors(
        self,
        model_id: int,
        dim: int,
        chunk: int = 20_000,
        after_id: int = 0,
        up_to_id: int | None = None,
    ) -> Iterator[tuple[NDArray[np.int64], NDArray[np.float32]]]:
        query = select(embeddings.c.id, embeddings.c.vector).where(
            embeddings.c.model_id == model_id
        )
        if up_to_id is not None:
            query = query.where(embeddings.c.id <= up_to_id)
        return vector_pages(self.engine, query, dim, chunk, after_id)

    def hits(self, embedding_ids: Sequence[int]) -> dict[int, list[FileHit]]:
        """The files (status ok) behind each embedding id, sorted by path."""
        query = (
            select(
                embeddings.c.id,
                files.c.path,
                images.c.width,
                images.c.height,
                images.c.captured_at,
                images.c.camera,
            )
            .join(images, images.c.id == embeddings.c.image_id)
            .join(files, and_(files.c.image_id == images.c.id, files.c.status == "ok"))
            .order_by(files.c.path)
        )
        found: dict[int, list[FileHit]] = {}
        with self.engine.connect() as conn:
            for chunk in _chunks(list(embedding_ids)):
                for row in conn.execute(query.where(embeddings.c.id.in_(chunk))):
                    found.setdefault(row.id, []).append(
                        FileHit(
                            row.id, row.path, row.width, row.height, row.captured_at, row.camera
                        )
                    )
        return found

    def stored_vector(
        self,
        path: str,
        size: int,
        mtime_ns: int,
        model_id: int,
        ctime_ns: int | None = None,
        inode: int | None = None,
    ) -> NDArray[np.float32] | None:
        """The vector of an indexed file, if the file on disk is still the one indexed (its
        ctime and inode are compared too when given)."""
        query = (
            select(embeddings.c.vector)
            .join(files, files.c.image_id == embeddings.c.image_id)
            .where(
                files.c.path == path,
                files.c.size == size,
                files.c.mtime_ns == mtime_ns,
                embeddings.c.model_id == model_id,
            )
        )
        if ctime_ns is not None:
            query = query.where(files.c.ctime_ns == ctime_ns)
        if inode is not None:
            query = query.where(files.c.inode == inode)
        with self.engine.connect() as conn:
            blob = conn.execute(query).scalar()
        return None if blob is None else np.frombuffer(blob, dtype=np.float32).copy()

    def counts(self) -> dict[str, int]:
        with self.engine.connect() as conn:
            by_status: dict[str, int] = dict(
                conn.execute(select(files.c.status, func.count()).group_by(files.c.status)).all()
            )
            return {
                "files_ok": int(by_status.get("ok", 0)),
                "files_failed": int(by_status.get("failed", 0)),
                "images": int(conn.execute(select(func.count()).select_from(images)).scalar_one()),
                "embeddings": int(
                    conn.execute(select(func.count()).select_from(embeddings)).scalar_one()
                ),
            }

    def failures(self, limit: int = 1000) -> list[tuple[str, str]]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(files.c.path, files.c.error)
                .where(files.c.status == "failed")
                .order_by(files.c.path)
                .limit(limit)
            ).all()
        return [(row.path, row.error or "") for row in rows]
