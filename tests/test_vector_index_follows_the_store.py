"""A long-running reader's vector index follows the store: new rows are added to it, removed or
changed ones dropped (through the store's removal log, without a rebuild), and its ids always
name the right images (SQLite reuses a deleted newest id)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from searchapp.config import Settings
from searchapp.library import Library
from tests.conftest import CliRunner, TinyModel
from tests.photos import make_photo
from tests.watching import embedding_id_of


@pytest.fixture
def library(data_dir: Path) -> Iterator[Library]:
    opened = Library(Settings(data_dir=data_dir, precision="fp32"))
    yield opened
    opened.close()


def _store_ids(library: Library) -> list[int]:
    model = library.store.active_model()
    assert model is not None
    return sorted(
        int(i) for ids, _ in library.store.vectors.iter_vectors(model.id, model.dim) for i in ids
    )


def test_new_photos_are_added_to_the_held_index_without_a_rebuild(
    cli: CliRunner, tiny_model: TinyModel, photo_dir: Path, library: Library
) -> None:
    cli("index", str(photo_dir), *tiny_model.flags)
    model = library.query_model()
    live = library.live_index(model)
    first = live.current()
    for i in range(3):
        make_photo(photo_dir / "later" / f"new_{i}.jpg", seed=300 + i)

    cli("index", str(photo_dir))
    current = live.current()

    assert live.last_refresh == "added"
    assert current is first and current.count == 15
    assert sorted(current.ids().tolist()) == _store_ids(library)
    live.current()
    assert live.last_refresh == "unchanged"


def test_a_removed_newest_photo_whose_id_is_reused_is_dropped_then_found_again(
    cli: CliRunner, tiny_model: TinyModel, photo_dir: Path, library: Library
) -> None:
    cli("index", str(photo_dir), *tiny_model.flags)
    newest = make_photo(photo_dir / "newest.jpg", seed=400)
    cli("index", str(photo_dir))
    model = library.query_model()
    live = library.live_index(model)
    live.current()
    reused_id = embedding_id_of(library.store, str(newest))
    newest.unlink()
    cli("index", str(photo_dir))
    replacement = make_photo(photo_dir / "replacement.jpg", seed=401)

    cli("index", str(photo_dir))
    index = live.current()
    vector = library.store.vectors.stored_vector(
        str(replacement), replacement.stat().st_size, replacement.stat().st_mtime_ns, model.id
    )
    assert vector is not None
    scores, ids = index.search(vector.reshape(1, -1), 1)

    assert embedding_id_of(library.store, str(replacement)) == reused_id  # what makes it hard
    assert live.last_refresh == "dropped"
    assert sorted(index.ids().tolist()) == _store_ids(library)
    assert int(ids[0][0]) == reused_id and float(scores[0][0]) == pytest.approx(1.0, abs=1e-4)


def test_a_short_lived_reader_starts_from_the_saved_index_plus_new_rows(
    cli: CliRunner,
    tiny_model: TinyModel,
    photo_dir: Path,
    data_dir: Path,
    library: Library,
    caplog: pytest.LogCaptureFixture,
) -> None:
    import shutil

    from searchapp.vector_build import load_current

    cli("index", str(photo_dir), *tiny_model.flags)
    older = data_dir.parent / "older-vectors"
    shutil.copytree(data_dir / "vectors", older)
    make_photo(photo_dir / "one_more.jpg", seed=500)
    cli("index", str(photo_dir))
    shutil.rmtree(data_dir / "vectors")
    shutil.copytree(older, data_dir / "vectors")  # as if no one had saved it since
    model = library.query_model()

    with caplog.at_level("INFO", logger="searchapp.vector_build"):
        index = load_current(library.store, model, data_dir / "vectors")

    assert "rebuilding" not in caplog.text
    assert sorted(index.ids().tolist()) == _store_ids(library)
    assert load_current(library.store, model, data_dir / "vectors").count == 13  # saved
