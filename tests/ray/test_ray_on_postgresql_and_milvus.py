"""`index --ray` with the metadata on PostgreSQL and the vectors in Milvus (milvus-lite): the
same photos, vectors and rankings as the local indexer on SQLite + FAISS, and a repeated job
duplicates nothing. Skipped, saying why, where PostgreSQL or milvus-lite is absent."""

from __future__ import annotations

import os
from pathlib import Path
from types import ModuleType

import numpy as np

from searchapp.config import Settings
from searchapp.service import IndexRequest, LibraryService
from searchapp.store import Store
from tests.backends import needs_milvus
from tests.conftest import TinyModel
from tests.ray.conftest import PHOTOS, QUERIES, settings_for, spec_of


def vectors_by_path(settings: Settings, root: Path) -> dict[str, np.ndarray | None]:
    """Each stored file's vector (None for a failed one), through the Store on either database."""
    store = Store(settings.database, read_only=True)
    try:
        model = store.active_model()
        assert model is not None
        found: dict[str, np.ndarray | None] = {}
        for path, known in store.known_files([str(root)], model.id).items():
            st = os.stat(path)
            found[path] = store.vectors.stored_vector(
                path, known.size, known.mtime_ns, model.id, st.st_ctime_ns, st.st_ino
            )
        return found
    finally:
        store.close()


def scored(settings: Settings) -> list[list[tuple[str, float]]]:
    with LibraryService(settings) as service:
        return [
            [(hit.path, round(hit.score, 4)) for hit in service.search(q).results] for q in QUERIES
        ]


def counts(settings: Settings) -> dict[str, int]:
    store = Store(settings.database, read_only=True)
    try:
        return store.vectors.counts()
    finally:
        store.close()


@needs_milvus
def test_ray_index_on_postgresql_and_milvus_equals_the_local_indexer_on_sqlite_and_faiss(
    ray_cluster: ModuleType,
    tmp_path: Path,
    postgres_url: str,
    ray_library: Path,
    tiny_model: TinyModel,
    local_reference: Path,
) -> None:
    settings = settings_for(tmp_path / "data", database_url=postgres_url, vector_backend="milvus")
    reference = settings_for(local_reference)
    request = IndexRequest(spec_of(tiny_model), tag=False, runner="ray")

    with LibraryService(settings) as service:
        first = service.index([ray_library], request).summary
    with LibraryService(settings) as service:
        again = service.index([ray_library], IndexRequest(**{**vars(request), "reindex": True}))

    assert (first.indexed, len(first.failed)) == (PHOTOS + 1, 1)
    assert again.summary.indexed == PHOTOS + 1
    assert counts(settings) == counts(reference)
    ours, theirs = vectors_by_path(settings, ray_library), vectors_by_path(reference, ray_library)
    assert sorted(ours) == sorted(theirs)
    for path, expected in theirs.items():
        got = ours[path]
        if expected is None:
            assert got is None, path
        else:
            assert got is not None, path
            np.testing.assert_allclose(got, expected, atol=1e-5)
    ranked = scored(settings)
    assert all(len(hits) >= 5 for hits in ranked)
    assert ranked == scored(reference)
