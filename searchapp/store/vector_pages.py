"""Reading stored vectors page by page, in id order, so memory stays bounded at any library size."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from numpy.typing import NDArray
from sqlalchemy import Select
from sqlalchemy.engine import Engine

from searchapp.store.schema import embeddings
from searchapp.store.vector_blobs import stacked_vectors


def vector_pages(
    engine: Engine, query: Select[tuple[int, bytes]], dim: int, chunk: int, after_id: int = 0
) -> Iterator[tuple[NDArray[np.int64], NDArray[np.float32]]]:
    """(ids, vectors) pages of `query`, which selects `embeddings.id, embeddings.vector`; pages
    continue after the last id seen (keyset pagination), each read on a short connection, so
    writes between pages neither block nor shift the reader."""
    last_id = after_id
    while True:
        with engine.connect() as conn:
            rows = conn.execute(
                query.where(embeddings.c.id > last_id).order_by(embeddings.c.id).limit(chunk)
            ).all()
        if not rows:
            return
        ids = np.fromiter((row.id for row in rows), dtype=np.int64, count=len(rows))
        yield ids, stacked_vectors(ids, [row.vector for row in rows], dim)
        last_id = int(ids[-1])
