"""The SQL of captions: one caption per image with the model and prompt that wrote it, the
images still to caption, and full-text matches (SQLite FTS5, BM25 order; PostgreSQL: a GIN
tsvector index, ts_rank order) for hybrid search.

Captions hang off `images`, so they follow a photo through moves and renames and vanish with it;
triggers keep `captions_fts` in step with every insert, update and (cascading) delete."""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, and_, func, or_, select, text
from sqlalchemy.engine import Engine

from searchapp.store.dialect import upsert
from searchapp.store.schema import captions, files

WORD = re.compile(r"\w+", re.UNICODE)


@dataclass(frozen=True)
class StoredCaption:
    image_id: int
    model: str
    prompt: str
    text: str
    created_at: float


@dataclass(frozen=True)
class NewCaption:
    image_id: int
    model: str
    prompt: str
    text: str


@dataclass(frozen=True)
class PendingImage:
    """An image without a current caption, and one of its files to read it from."""

    image_id: int
    path: str


def fts_query(query: str) -> str | None:
    """Any of the query's words, each quoted (so FTS5 syntax in user text is plain text)."""
    words = WORD.findall(query.lower())
    if not words:
        return None
    return " OR ".join(f'"{word}"' for word in dict.fromkeys(words))


SQLITE_MATCHES = text(
    "SELECT e.id FROM captions_fts JOIN embeddings e ON e.image_id = captions_fts.rowid "
    "WHERE captions_fts MATCH :match AND e.model_id = :model_id "
    "ORDER BY bm25(captions_fts) LIMIT :limit"
)
# PostgreSQL: the GIN index on to_tsvector('english', text) (migration 0005); any word, ranked
# by ts_rank (its order differs from BM25's on ties and long captions).
POSTGRESQL_MATCHES = text(
    "SELECT e.id FROM captions c JOIN embeddings e ON e.image_id = c.image_id, "
    "websearch_to_tsquery('english', :match) q "
    "WHERE to_tsvector('english', c.text) @@ q AND e.model_id = :model_id "
    "ORDER BY ts_rank(to_tsvector('english', c.text), q) DESC, e.id LIMIT :limit"
)


def _under(root: str | None) -> Any:
    if root is None or root == "/":
        return files.c.path.is_not(None)
    return or_(files.c.path == root, and_(files.c.path >= root + "/", files.c.path < root + "0"))


class CaptionStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def caption(self, image_id: int) -> StoredCaption | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(captions).where(captions.c.image_id == image_id)).first()
        if row is None:
            return None
        return StoredCaption(row.image_id, row.model, row.prompt, row.text, row.created_at)

    def indexed_image(self, path: str, size: int, mtime_ns: int) -> int | None:
        """The image of an indexed file, if the file on disk is still the one indexed."""
        query = select(files.c.image_id).where(
            files.c.path == path,
            files.c.size == size,
            files.c.mtime_ns == mtime_ns,
            files.c.status == "ok",
        )
        with self.engine.connect() as conn:
            image_id = conn.execute(query).scalar()
        return None if image_id is None else int(image_id)

    def caption_of_file(self, path: str) -> StoredCaption | None:
        with self.engine.connect() as conn:
            image_id = conn.execute(
                select(files.c.image_id).where(files.c.path == path, files.c.status == "ok")
            ).scalar()
        return None if image_id is None else self.caption(int(image_id))

    def write(self, new: Sequence[NewCaption]) -> None:
        """A batch of captions in one transaction (replacing older ones of the same images)."""
        now = time.time()
        with self.engine.begin() as conn:
            for item in new:
                values = {"model": item.model, "prompt": item.prompt, "text": item.text}
                conn.execute(
                    upsert(conn, captions)
                    .values(image_id=item.image_id, created_at=now, **values)
                    .on_conflict_do_update(
                        index_elements=[captions.c.image_id], set_={**values, "created_at": now}
                    )
                )

    def _pending_query(self, model: str, prompt: str, root: str | None) -> Select[Any]:
        current = select(captions.c.image_id).where(
            captions.c.model == model, captions.c.prompt == prompt
        )
        return (
            select(files.c.image_id, func.min(files.c.path).label("path"))
            .where(
                files.c.status == "ok",
                files.c.image_id.is_not(None),
                files.c.image_id.not_in(current),
                _under(root),
            )
            .group_by(files.c.image_id)
        )

    def pending(
        self, model: str, prompt: str, root: str | None = None, after: int = 0, limit: int = 64
    ) -> list[PendingImage]:
        """Images with no caption by this model and prompt, in image-id order after `after`."""
        query = self._pending_query(model, prompt, root)
        query = query.where(files.c.image_id > after).order_by(files.c.image_id).limit(limit)
        with self.engine.connect() as conn:
            return [PendingImage(int(r.image_id), r.path) for r in conn.execute(query)]

    def pending_count(self, model: str, prompt: str, root: str | None = None) -> int:
        inner = self._pending_query(model, prompt, root).subquery()
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(inner)).scalar_one())

    def count(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(captions)).scalar_one())

    def matches(self, query: str, model_id: int, limit: int) -> list[int]:
        """Embedding ids (of `model_id`) whose image's caption matches any word of `query`,
        best BM25 first."""
        match = fts_query(query)
        if match is None:
            return []
        with self.engine.connect() as conn:
            if conn.dialect.name == "postgresql":
                sql, match = POSTGRESQL_MATCHES, " or ".join(WORD.findall(query.lower()))
            else:
                sql = SQLITE_MATCHES
            rows = conn.execute(sql, {"match": match, "model_id": model_id, "limit": limit})
            return [int(row[0]) for row in rows]
