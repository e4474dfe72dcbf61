"""Past SEARCHAPP_ANN_MIN_PHOTOS the library is searched through an approximate index: its recall
stays above a floor, removed and changed photos never come back, new ones are found at once,
filtered search equals a brute-force filter + rank, and the swap from exact loses no query."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from searchapp.config import Settings
from searchapp.library import Library
from searchapp.store import EmbeddedFile, ImageMeta, StoredModel
from searchapp.store.records import FileStat
from tests.vector_sets import add_vectors, clustered, exact_top_k, path_of, stored, vector_model

DIM = 64
N = 3000


@pytest.fixture
def library(data_dir: Path) -> Iterator[Library]:
    opened = Library(Settings(data_dir=data_dir, ann_min_photos=1000))
    yield opened
    opened.close()


@pytest.fixture
def model(library: Library) -> StoredModel:
    stored_model = vector_model(library.store, DIM)
    add_vectors(library.store, stored_model, clustered(N, DIM))
    return stored_model


def _approximate(library: Library, model: StoredModel) -> None:
    index = library.live_index(model).build_now()
    assert index.kind == "ivf_sq8" and index.manifest.params
    assert index.base.ann is not None


def _queries(n: int = 50) -> np.ndarray:
    return clustered(n, DIM, seed=7)


def test_recall_at_10_against_exact_search_is_above_the_floor(
    library: Library, model: StoredModel
) -> None:
    _approximate(library, model)
    ids, vectors = stored(library.store, model)
    queries = _queries()

    scores, found = library.vector_index(model).search(queries, 10)

    truth = exact_top_k(queries, ids, vectors, 10)
    recall = np.mean(
        [len(set(f) & set(t)) / 10 for f, t in zip(found.tolist(), truth, strict=True)]
    )
    assert recall >= 0.9
    by_id = dict(zip(ids.tolist(), vectors, strict=True))
    expected = [
        [float(by_id[i] @ q) for i in row] for row, q in zip(found.tolist(), queries, strict=True)
    ]
    np.testing.assert_allclose(scores, expected, atol=1e-5)  # exact scores, re-ranked


def test_removed_and_changed_photos_never_appear_and_added_ones_are_found_at_once(
    library: Library, model: StoredModel
) -> None:
    _approximate(library, model)
    store = library.store
    ids, vectors = stored(store, model)
    removed = [path_of(i) for i in range(0, N, 7)]
    store.remove_files(removed)
    changed_vector = clustered(1, DIM, seed=99)[0]
    store.write_batch(
        model.id,
        [EmbeddedFile(FileStat(path_of(1), 2, 2), "c" * 40, ImageMeta(640, 480), changed_vector)],
    )
    store.remove_files([])  # the changed file's old image is no longer referenced
    added = clustered(5, DIM, seed=123)
    add_vectors(store, model, added, first=N)

    index = library.vector_index(model)
    _, everything = index.search(vectors[:40], 60)
    _, for_added = index.search(added, 1)
    _, for_changed = index.search(changed_vector[None, :], 1)

    live, _ = stored(store, model)
    gone = set(ids.tolist()) - set(live.tolist())
    assert len(gone) == len(removed) + 1
    assert not gone & set(everything.ravel().tolist())
    assert sorted(index.ids().tolist()) == sorted(live.tolist())
    assert index.kind == "ivf_sq8" and index.count == len(live)
    assert set(for_added.ravel().tolist()) <= set(live.tolist()) - set(ids.tolist())
    assert len(set(for_added.ravel().tolist())) == 5
    assert int(for_changed[0, 0]) in set(live.tolist()) - set(ids.tolist())


@pytest.mark.parametrize("size", [1, 10, 37, 400])
def test_filtered_search_equals_a_brute_force_filter_and_rank(
    library: Library, model: StoredModel, size: int
) -> None:
    _approximate(library, model)
    ids, vectors = stored(library.store, model)
    allowed = np.random.default_rng(size).choice(ids, size, replace=False)
    queries = _queries(10)

    _, found = library.vector_index(model).search(queries, 10, allowed)

    assert found.tolist() == exact_top_k(queries, ids, vectors, 10, allowed.tolist())
    assert found.shape == (10, min(10, size))


def test_a_restrictive_filter_on_the_approximate_path_still_fills_top_k(
    library: Library, model: StoredModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("searchapp.vectors.EXACT_SUBSET_LIMIT", 0)  # always the selector path
    _approximate(library, model)
    ids, vectors = stored(library.store, model)
    queries = _queries(20)
    far = np.argsort(vectors @ queries[0])[:12]  # the photos least like the first query
    wide = np.random.default_rng(3).choice(ids, 600, replace=False)

    _, narrow_found = library.vector_index(model).search(queries, 10, ids[far])
    _, wide_found = library.vector_index(model).search(queries, 10, wide)

    assert narrow_found.shape == (20, 10) and (narrow_found >= 0).all()
    assert set(narrow_found.ravel().tolist()) <= set(ids[far].tolist())
    assert narrow_found[0].tolist() == exact_top_k(queries[:1], ids, vectors, 10, ids[far])[0]
    truth = exact_top_k(queries, ids, vectors, 10, wide.tolist())
    recall = np.mean(
        [len(set(f) & set(t)) / 10 for f, t in zip(wide_found.tolist(), truth, strict=True)]
    )
    assert set(wide_found.ravel().tolist()) <= set(wide.tolist()) and recall >= 0.9
    ordered = library.vector_index(model).search(queries, 10, np.sort(wide))[1]
    repeated = library.vector_index(model).search(queries, 10, np.concatenate([wide, wide]))[1]
    assert ordered.tolist() == repeated.tolist() == wide_found.tolist()


def test_the_swap_from_exact_to_approximate_loses_no_query(data_dir: Path) -> None:
    library = Library(Settings(data_dir=data_dir, ann_min_photos=2000))
    library.enable_background_index_builds()
    model = vector_model(library.store, DIM)
    vectors = clustered(N, DIM)
    add_vectors(library.store, model, vectors[:1500])
    live = library.live_index(model)
    assert live.current().kind == "exact"
    errors: list[BaseException] = []
    answered: list[str] = []
    stop = threading.Event()

    def query() -> None:
        while not stop.is_set():
            try:
                index = live.current()
                _, found = index.search(vectors[:3], 10)
                assert found.shape == (3, 10) and (found >= 0).all()
                answered.append(index.kind)
            except BaseException as exc:  # collected for the assertion
                errors.append(exc)
                return

    threads = [threading.Thread(target=query) for _ in range(2)]
    for thread in threads:
        thread.start()
    add_vectors(library.store, model, vectors[1500:], first=1500)
    for _ in range(600):
        if "ivf_sq8" in answered[-5:]:
            break
        live.wait_for_build(0.1)
    stop.set()
    for thread in threads:
        thread.join()
    try:
        assert not errors
        assert live.swaps == 1 and live.current().kind == "ivf_sq8"
        assert live.current().count == N and answered[0] == "exact"
        assert library.vector_index_status()["kind"] == "ivf_sq8"
    finally:
        library.close()
