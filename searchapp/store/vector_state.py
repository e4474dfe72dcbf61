"""The counters a holder of a vector index compares to know what changed since it was built.

`generation` moves with every committed change that affects results, and `revision` (a random
token) is replaced with it, so an index of another store, or of this one before a backup was
restored, can share the number but not the token; `removed` moves only when
an embedding row is deleted or its vector changed (triggers on `embeddings`, migration 0003), and
each such id is logged in `vector_removals` (migration 0004) under an increasing `seq`. If only
`generation` moved, rows were only added: adding the ids above the highest one held is enough;
otherwise the ids logged after the held `seq` are dropped (and read again if they still exist).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray
from sqlalchemy import Connection, func, or_, select
from sqlalchemy.engine import Engine

from searchapp.store.dialect import snapshot
from searchapp.store.schema import embeddings, library_state, vector_removals
from searchapp.store.vector_blobs import stacked_vectors

IN_CHUNK = 500
_STATE_KEYS = ("generation", "vectors_removed", "revision")


@dataclass(frozen=True)
class VectorState:
    generation: int
    removed: int
    removal_seq: int = 0
    revision: str = ""


@dataclass(frozen=True)
class VectorChanges:
    """What changed after a held (cursor, seq), read in one snapshot of the database."""

    state: VectorState
    dropped: NDArray[np.int64]  # ids removed or changed since the held seq
    ids: NDArray[np.int64]  # rows present now with id > cursor, or among `dropped`
    vectors: NDArray[np.float32]
    total: int  # how many vectors the model has in this snapshot


def _state(conn: Connection) -> VectorState:
    query = select(library_state.c.key, library_state.c.value).where(
        library_state.c.key.in_(_STATE_KEYS)
    )
    values = {str(row.key): str(row.value) for row in conn.execute(query)}
    seq = conn.execute(select(func.max(vector_removals.c.seq))).scalar()
    return VectorState(
        int(values.get("generation", 0)),
        int(values.get("vectors_removed", 0)),
        int(seq or 0),
        values.get("revision", ""),
    )


_STATE_IN_ONE = select(
    library_state.c.key,
    library_state.c.value,
    select(func.max(vector_removals.c.seq)).scalar_subquery().label("seq"),
).where(library_state.c.key.in_(_STATE_KEYS))


def vector_state(engine: Engine) -> VectorState:
    """One statement (one snapshot on SQLite and PostgreSQL alike): this runs before every
    query, and a transaction of two statements cost it four round trips."""
    with engine.connect() as conn:
        rows = conn.execute(_STATE_IN_ONE).all()
    if not rows:  # no counters yet: the removal log alone says where it stands
        with snapshot(engine) as conn:
            return _state(conn)
    values = {str(row.key): str(row.value) for row in rows}
    return VectorState(
        int(values.get("generation", 0)),
        int(values.get("vectors_removed", 0)),
        int(rows[0].seq or 0),
        values.get("revision", ""),
    )


def model_extent(engine: Engine, model_id: int) -> tuple[int, int]:
    """(row count, highest id) of the model's embeddings."""
    query = select(func.count(), func.max(embeddings.c.id)).where(embeddings.c.model_id == model_id)
    with engine.connect() as conn:
        count, highest = conn.execute(query).one()
    return int(count), int(highest or 0)


def vector_changes(
    engine: Engine, model_id: int, dim: int, after_id: int, after_seq: int
) -> VectorChanges:
    """Counters, dropped ids and new rows from one read transaction, so nothing committed in
    between is half seen: a later change moves the counters past what this returns."""
    with snapshot(engine) as conn:
        state = _state(conn)
        dropped = np.unique(
            np.fromiter(
                conn.execute(
                    select(vector_removals.c.embedding_id).where(vector_removals.c.seq > after_seq)
                ).scalars(),
                dtype=np.int64,
            )
        )
        rows: list[Any] = []
        base = select(embeddings.c.id, embeddings.c.vector).where(embeddings.c.model_id == model_id)
        rows.extend(conn.execute(base.where(embeddings.c.id > after_id)).all())
        old = dropped[dropped <= after_id].tolist()
        for start in range(0, len(old), IN_CHUNK):
            chunk = old[start : start + IN_CHUNK]
            rows.extend(conn.execute(base.where(or_(embeddings.c.id.in_(chunk)))).all())
        total = conn.execute(
            select(func.count()).where(embeddings.c.model_id == model_id)
        ).scalar_one()
    ids = np.fromiter((row.id for row in rows), dtype=np.int64, count=len(rows))
    vectors = stacked_vectors(ids, [row.vector for row in rows], dim)
    return VectorChanges(state, dropped, ids, vectors, int(total))
