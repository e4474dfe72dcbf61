"""The two counters a holder of a vector index compares to know what changed since it was built.

`generation` moves with every committed change that affects results, and `revision` (a random
token) is replaced with it; `removed` moves only when
an embedding row is deleted or its vector changed (triggers on `embeddings`, migration 0003). If
only `generation` moved, rows were only added: adding the ids above the highest one held is
enough. Both are read in one statement, so they come from one snapshot.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.engine import Engine

from searchapp.store.schema import library_state


@dataclass(frozen=True)
class VectorState:
    generation: int
    removed: int
    revision: str = ""


def vector_state(engine: Engine) -> VectorState:
    query = select(library_state.c.key, library_state.c.value).where(
        library_state.c.key.in_(("generation", "vectors_removed", "revision"))
    )
    with engine.connect() as conn:
        values = {str(row.key): str(row.value) for row in conn.execute(query)}
    return VectorState(
        int(values.get("generation", 0)),
        int(values.get("vectors_removed", 0)),
        values.get("revision", ""),
    )
