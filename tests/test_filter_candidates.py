"""The candidates of a filter (the embedding ids a filtered search ranks) equal a brute-force
pass over every file, also for folders with look-alike siblings; a repeated filter is answered
from the cache only while the store is unchanged: added, removed and re-tagged photos show at
the next query."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

from searchapp.store import EmbeddedFile, ImageMeta, Store, StoredModel
from searchapp.store.photo_queries import PhotoFilter
from searchapp.store.records import FileStat
from tests.vector_sets import clustered, vector_model

DIM = 8
FOLDERS = ["/lib/a", "/lib/a/b", "/lib/a-b", "/lib/ab", "/lib/a.d", "/lib/b"]


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened = Store(tmp_path / "library.sqlite3")
    yield opened
    opened.close()


def _photo(path: str, i: int, vector: np.ndarray, captured: str | None = None) -> EmbeddedFile:
    return EmbeddedFile(FileStat(path, 1, 1), f"{i:040x}", ImageMeta(640, 480, captured), vector)


def _fill(store: Store) -> tuple[StoredModel, dict[int, str]]:
    """Photos in look-alike folders (and a file named like a folder); their embedding ids."""
    model = vector_model(store, DIM)
    vectors = clustered(60, DIM)
    paths = [f"{FOLDERS[i % len(FOLDERS)]}/p{i:02d}.jpg" for i in range(58)]
    paths += ["/lib/a.jpg", "/lib/a"]  # a file beside the folder, and one *named* like it
    dates = [f"20{20 + i % 4}-06-01T12:00:00" for i in range(60)]
    store.write_batch(model.id, [_photo(p, i, vectors[i], dates[i]) for i, p in enumerate(paths)])
    return model, _embedding_paths(store, model)


def _embedding_paths(store: Store, model: StoredModel) -> dict[int, str]:
    ids = store.photos.candidates(PhotoFilter(), model.id)
    rows = store.photos.photos_of(ids.tolist(), model.id, PhotoFilter())
    return {embedding: photos[0].path for embedding, photos in rows.items()}


def _brute_force(paths: dict[int, str], admits: Callable[[str], bool]) -> list[int]:
    return sorted(i for i, path in paths.items() if admits(path))


def _below(folder: str) -> Callable[[str], bool]:
    return lambda path: path == folder or path.startswith(folder + "/")


@pytest.mark.parametrize(
    "folders",
    [("/lib/a",), ("/lib/a/",), ("/lib/a/b",), ("/lib/a-b", "/lib/ab"), ("/lib/a", "/lib/a/b")],
)
def test_folder_candidates_equal_a_brute_force_pass_over_every_path(
    store: Store, folders: tuple[str, ...]
) -> None:
    model, paths = _fill(store)
    roots = [f.rstrip("/") for f in folders]

    found = store.photos.candidates(PhotoFilter(folders=folders), model.id)

    expected = _brute_force(paths, lambda p: any(_below(r)(p) for r in roots))
    assert found.tolist() == expected


def test_folder_and_date_together_admit_only_photos_meeting_both(store: Store) -> None:
    from datetime import date

    model, paths = _fill(store)
    photo_filter = PhotoFilter(folders=("/lib/a",), taken_after=date(2022, 1, 1))
    year = {i: 2020 + n % 4 for n, i in enumerate(sorted(paths))}  # ids follow the write order

    found = store.photos.candidates(photo_filter, model.id)

    expected = [i for i in _brute_force(paths, _below("/lib/a")) if year[i] >= 2022]
    assert found.tolist() == expected


def test_a_repeated_filter_sees_photos_added_and_removed_since(store: Store) -> None:
    model, paths = _fill(store)
    folder = PhotoFilter(folders=("/lib/b",))
    before = store.photos.candidates(folder, model.id)
    assert store.photos.candidates(folder, model.id) is before  # unchanged store: cached

    store.write_batch(model.id, [_photo("/lib/b/new.jpg", 99, clustered(1, DIM, seed=3)[0])])
    store.remove_files([paths[int(before[0])]])
    after = store.photos.candidates(folder, model.id)

    now = _embedding_paths(store, model)
    assert after.tolist() == _brute_force(now, _below("/lib/b"))
    assert int(before[0]) not in after.tolist()
    assert "/lib/b/new.jpg" in {now[i] for i in after}


def test_a_repeated_tag_filter_sees_tags_written_since(store: Store) -> None:
    model, paths = _fill(store)
    vocabulary, _ = store.tags.save_vocabulary("things", ["dog"], ["{}"], None, 1, None)
    dog = PhotoFilter(tags=("dog",))
    assert store.photos.candidates(dog, model.id).tolist() == []

    tagged = sorted(paths)[:5]
    store.tags.write_tags(vocabulary.id, tagged, [(i, "dog", 0.9) for i in tagged])

    assert store.photos.candidates(dog, model.id).tolist() == tagged
    store.tags.save_vocabulary("things", ["cat"], ["{}"], None, 1, None)  # drops its tags
    assert store.photos.candidates(dog, model.id).tolist() == []


def test_cached_candidates_cannot_be_changed_by_a_caller(store: Store) -> None:
    model, _ = _fill(store)
    found = store.photos.candidates(PhotoFilter(folders=("/lib/a",)), model.id)

    with pytest.raises(ValueError):
        found[0] = -1
