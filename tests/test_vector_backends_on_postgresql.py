"""Both vector backends follow a PostgreSQL metadata store as they follow SQLite (the same
contract code as `test_vector_backend_contract`): added and removed photos, and searches
filtered by the store's tag/folder/date candidates equal brute force."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path

import numpy as np
import pytest

from searchapp.store import Store
from searchapp.store.photo_queries import PhotoFilter
from tests.backends import EXACT_KINDS, BackendKind, opened
from tests.test_vector_backend_contract import (
    DIM,
    K,
    Library,
    add_photos,
    assert_matches_brute_force,
    path_of_photo,
    query_vectors,
)
from tests.vector_sets import clustered, exact_top_k, stored, vector_model


@pytest.fixture
def library(tmp_path: Path, postgres_url: str) -> Iterator[Library]:
    store = Store(postgres_url)
    opened_library = Library(tmp_path / "data", store, vector_model(store, DIM))
    add_photos(opened_library, clustered(400, DIM, seed=11), first=0)
    yield opened_library
    store.close()


@pytest.mark.parametrize("kind", EXACT_KINDS)
def test_a_backend_follows_a_postgresql_store_and_filters_by_its_candidates(
    kind: BackendKind, library: Library
) -> None:
    ids, _ = stored(library.store, library.model)
    vocabulary, _ = library.store.tags.save_vocabulary("test", ["sunset"], ["{}"], None, 1, None)
    tagged = ids[ids % 5 == 0].tolist()
    library.store.tags.write_tags(vocabulary.id, tagged, [(i, "sunset", 0.3) for i in tagged])
    chosen = PhotoFilter(("/library/city",), taken_after=date(2012, 1, 1), tags=("sunset",))

    with opened(kind, library.data_dir, library.store, library.model) as backend:
        assert_matches_brute_force(backend, library)
        add_photos(library, clustered(30, DIM, seed=12), first=400)
        library.store.remove_files([path_of_photo(i) for i in (0, 5, 401)])
        assert_matches_brute_force(backend, library)
        allowed = library.store.photos.candidates(chosen, library.model.id)
        _, found = backend.current().search(query_vectors(), K, allowed)

    ids, vectors = stored(library.store, library.model)
    assert 0 < len(allowed) < len(ids) and not np.isin([1, 6, 402], ids).any()
    assert found.tolist() == exact_top_k(query_vectors(), ids, vectors, K, allowed.tolist())
