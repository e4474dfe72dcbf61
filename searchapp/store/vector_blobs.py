"""Stored vectors from their blobs: every blob must hold exactly one vector of the model's width,
or the store is damaged, which is said in one line, never as a NumPy reshape error."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray
from sqlalchemy import delete, func, select
from sqlalchemy.engine import Engine

from searchapp.errors import DamagedLibraryError
from searchapp.store.schema import embeddings, models

FLOAT_BYTES = 4


def stacked_vectors(
    ids: Sequence[int] | NDArray[np.int64], blobs: Sequence[bytes], dim: int
) -> NDArray[np.float32]:
    """The blobs as an (n, dim) float32 array (read-only, no copy)."""
    width = dim * FLOAT_BYTES
    for embedding_id, blob in zip(ids, blobs, strict=True):
        if len(blob) != width:
            raise DamagedLibraryError(
                f"The vectors stored in this library are damaged (the vector {int(embedding_id)} "
                f"has {len(blob)} bytes, a {dim}-number vector has {width}). Run `searchapp "
                "doctor --repair` to re-embed the photos.",
                f"stored vector {int(embedding_id)} has {len(blob)} bytes, not {width}",
            )
    joined = b"".join(blobs)
    return np.frombuffer(joined, dtype=np.float32).reshape(len(blobs), dim)


def malformed_vector_ids(engine: Engine, limit: int = 10) -> list[int]:
    """Up to `limit` stored vectors whose blob is not one vector of their model's width."""
    query = (
        select(embeddings.c.id)
        .join(models, models.c.id == embeddings.c.model_id)
        .where(func.length(embeddings.c.vector) != models.c.dim * FLOAT_BYTES)
        .order_by(embeddings.c.id)
        .limit(limit)
    )
    with engine.connect() as conn:
        return [int(row) for row in conn.execute(query).scalars()]


def forget_vectors(engine: Engine, embedding_ids: Sequence[int]) -> None:
    """Delete these stored vectors (their tags go with them); their photos are embedded again
    by the next re-index."""
    with engine.begin() as conn:
        conn.execute(delete(embeddings).where(embeddings.c.id.in_(list(embedding_ids))))
