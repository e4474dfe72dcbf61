"""Every vector backend keeps the same contract, pinned by the same test code on each: it follows
the store (rows added, files removed), searches like brute force (filtered by the store's
tag/folder/date candidates too), is rebuilt from the store when what it holds is not what the
store has (a restored backup, a crash before it caught up), and an approximate one keeps recall."""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np
import pytest
from numpy.typing import NDArray

from searchapp.store import EmbeddedFile, ImageMeta, Store, StoredModel
from searchapp.store.photo_queries import PhotoFilter
from searchapp.store.records import FileStat
from searchapp.vector_backend import VectorBackend
from tests.backends import ALL_KINDS, EXACT_KINDS, BackendKind, opened
from tests.vector_sets import clustered, exact_top_k, stored, vector_model

DIM = 32
K = 10


@dataclass
class Library:
    data_dir: Path
    store: Store
    model: StoredModel

    def reopen(self) -> Library:
        self.store.close()
        store = Store(self.data_dir / "library.sqlite3")
        model = store.active_model()
        assert model is not None
        return Library(self.data_dir, store, model)


def path_of_photo(i: int) -> str:
    return f"/library/{'beach' if i % 3 == 0 else 'city'}/photo_{i:05d}.jpg"


def _taken(i: int) -> str:
    return f"20{10 + i % 10}-06-01T12:00:00"


def add_photos(library: Library, vectors: NDArray[np.float32], first: int) -> None:
    """One photo per vector: every third under /library/beach, the rest under /library/city,
    taken in 2010 + i % 10."""
    for start in range(0, len(vectors), 500):
        batch = [
            EmbeddedFile(
                FileStat(path_of_photo(first + start + j), 1, 1),
                f"{first + start + j:040x}",
                ImageMeta(640, 480, captured_at=_taken(first + start + j)),
                vector,
            )
            for j, vector in enumerate(vectors[start : start + 500])
        ]
        library.store.write_batch(library.model.id, batch)


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store of 1,500 photos, written once and copied for each test."""
    path = tmp_path_factory.mktemp("template") / "library.sqlite3"
    store = Store(path)
    add_photos(Library(path.parent, store, vector_model(store, DIM)), clustered(1_500, DIM, 1), 0)
    store.close()
    return path


@pytest.fixture
def library(tmp_path: Path, template: Path) -> Iterator[Library]:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    with sqlite3.connect(template) as source, sqlite3.connect(data_dir / template.name) as copy:
        source.backup(copy)
    store = Store(data_dir / template.name)
    model = store.active_model()
    assert model is not None
    opened_library = Library(data_dir, store, model)
    yield opened_library
    opened_library.store.close()


def query_vectors(n: int = 8, seed: int = 7) -> NDArray[np.float32]:
    return clustered(n, DIM, seed=seed)


def assert_matches_brute_force(
    backend: VectorBackend, library: Library, allowed: NDArray[np.int64] | None = None
) -> None:
    ids, vectors = stored(library.store, library.model)
    queries = query_vectors()
    searcher = backend.current()
    _, found = searcher.search(queries, K, allowed)
    assert found.tolist() == exact_top_k(queries, ids, vectors, K, allowed)
    assert searcher.count == len(ids)


@pytest.mark.parametrize("kind", EXACT_KINDS)
def test_search_equals_brute_force_and_follows_added_and_removed_photos(
    kind: BackendKind, library: Library
) -> None:
    with opened(kind, library.data_dir, library.store, library.model) as backend:
        assert_matches_brute_force(backend, library)
        add_photos(library, clustered(40, DIM, seed=2), first=1_500)
        assert_matches_brute_force(backend, library)
        before, _ = stored(library.store, library.model)
        _, best = backend.current().search(query_vectors(), 1)
        best_photos = {path_of_photo(int(i) - 1) for i in best[:, 0]}  # photo i: embedding i + 1
        library.store.remove_files(sorted(best_photos | {path_of_photo(3), path_of_photo(1_501)}))
        after, _ = stored(library.store, library.model)

        assert_matches_brute_force(backend, library)
        _, everything = backend.current().search(query_vectors(), 2_000)
        assert not set(everything.ravel().tolist()) & set(np.setdiff1d(before, after).tolist())
        assert sorted(backend.current().ids().tolist()) == after.tolist()


@pytest.mark.parametrize("kind", EXACT_KINDS)
def test_removed_rows_are_never_returned_and_added_rows_are_found(
    kind: BackendKind, library: Library
) -> None:
    ids, vectors = stored(library.store, library.model)
    with opened(kind, library.data_dir, library.store, library.model) as backend:
        query = vectors[:1]
        backend.current()
        backend.remove(ids[:1])
        _, without = backend.current().search(query, K)
        backend.add(ids[:1], vectors[:1])
        scores, again = backend.current().search(query, K)

    assert int(ids[0]) not in without[0].tolist()
    assert int(again[0][0]) == int(ids[0]) and float(scores[0][0]) == pytest.approx(1.0, abs=1e-5)


@pytest.mark.parametrize("kind", EXACT_KINDS)
@pytest.mark.parametrize(
    "photo_filter",
    [
        pytest.param(PhotoFilter(folders=("/library/beach",)), id="folder"),
        pytest.param(PhotoFilter(taken_after=date(2015, 1, 1)), id="date"),
        pytest.param(PhotoFilter(tags=("sunset",)), id="tag"),
        pytest.param(
            PhotoFilter(("/library/city",), taken_before=date(2013, 1, 1), tags=("sunset",)),
            id="tag+folder+date",
        ),
    ],
)
def test_filtered_search_equals_brute_force_over_the_stores_candidates(
    kind: BackendKind, library: Library, photo_filter: PhotoFilter
) -> None:
    ids, _ = stored(library.store, library.model)
    vocabulary, _ = library.store.tags.save_vocabulary("test", ["sunset"], ["{}"], None, 1, None)
    tagged = ids[ids % 7 == 0].tolist()
    library.store.tags.write_tags(vocabulary.id, tagged, [(i, "sunset", 0.3) for i in tagged])
    allowed = library.store.photos.candidates(photo_filter, library.model.id)

    with opened(kind, library.data_dir, library.store, library.model) as backend:
        _, found = backend.current().search(query_vectors(), K, allowed)

    assert 0 < len(allowed) < len(ids)
    assert set(found.ravel().tolist()) <= set(allowed.tolist())
    ids, vectors = stored(library.store, library.model)
    assert found.tolist() == exact_top_k(query_vectors(), ids, vectors, K, allowed.tolist())


@pytest.mark.parametrize("kind", EXACT_KINDS)
def test_a_restored_backup_of_the_store_is_served_its_own_vectors(
    kind: BackendKind, library: Library
) -> None:
    database = library.data_dir / "library.sqlite3"
    backup = library.data_dir.parent / "backup.sqlite3"
    with sqlite3.connect(database) as source, sqlite3.connect(backup) as copy:
        source.backup(copy)
    with opened(kind, library.data_dir, library.store, library.model) as backend:
        add_photos(library, clustered(200, DIM, seed=3), first=1_500)
        assert backend.current().count == 1_700
    library.store.close()
    for leftover in database.parent.glob("library.sqlite3-*"):
        leftover.unlink()
    shutil.copy(backup, database)
    restored = library.reopen()

    with opened(kind, restored.data_dir, restored.store, restored.model) as backend:
        assert_matches_brute_force(backend, restored)


@pytest.mark.parametrize("kind", EXACT_KINDS)
def test_photos_committed_before_a_crash_are_found_by_the_next_process(
    kind: BackendKind, library: Library
) -> None:
    with opened(kind, library.data_dir, library.store, library.model) as backend:
        backend.build_now()
        backend.save()
    add_photos(library, clustered(30, DIM, seed=4), first=1_500)  # the backend never followed
    library.store.remove_files([path_of_photo(0), path_of_photo(1)])
    reopened = library.reopen()

    with opened(kind, reopened.data_dir, reopened.store, reopened.model) as backend:
        assert_matches_brute_force(backend, reopened)


@pytest.mark.parametrize("kind", ALL_KINDS)
def test_rebuild_from_the_store_keeps_recall_against_exact_search(
    kind: BackendKind, library: Library
) -> None:
    ids, vectors = stored(library.store, library.model)
    queries = query_vectors(50, seed=9)
    truth = exact_top_k(queries, ids, vectors, K)
    with opened(kind, library.data_dir, library.store, library.model) as backend:
        backend.build_now()
        searcher = backend.rebuild()
        _, found = searcher.search(queries, K)
        status = backend.status()

    recall = np.mean([len(set(f) & set(t)) / K for f, t in zip(found.tolist(), truth, strict=True)])
    assert searcher.count == len(ids)
    assert recall == 1.0 if kind.exact else recall >= 0.9
    assert status["backend"] == kind.name.split("-")[0]
