"""The metadata store behaves the same on SQLite and on a real PostgreSQL server: migrations,
batches, removals and the counters a vector index follows, filters, tags and captions."""

from __future__ import annotations

import time
from datetime import date
from pathlib import Path

import numpy as np
from alembic import command
from alembic.config import Config
from sqlalchemy import inspect

from searchapp.models.base import ModelIdentity
from searchapp.store import EmbeddedFile, FailedFile, ImageMeta, LinkedFile, Store, StoredModel
from searchapp.store.caption_store import NewCaption
from searchapp.store.migrate import ALEMBIC_INI, HEAD_REVISION, current_revision
from searchapp.store.photo_queries import PhotoFilter
from searchapp.store.records import FileStat
from searchapp.store.vector_state import vector_changes, vector_state
from tests.postgres_server import PostgresServer

DIM = 4
MTIME_NS = 1_700_000_000_123_456_789


def _model(store: Store) -> StoredModel:
    model = store.register_model(ModelIdentity("open_clip", "tiny", "w", "c"), None, None, DIM)
    store.activate_model(model.id)
    return model


def _embedded(path: str, content: str, seed: int, captured_at: str | None = None) -> EmbeddedFile:
    vector = np.random.default_rng(seed).standard_normal(DIM).astype(np.float32)
    stat = FileStat(path, 100 + seed, MTIME_NS, 1, 1000 + seed)
    return EmbeddedFile(stat, content, ImageMeta(640, 480, captured_at, "Canon EOS", 1), vector)


def test_every_migration_runs_up_down_and_up_again(database: Path | str) -> None:
    store = Store(database)
    config = Config(str(ALEMBIC_INI))
    with store.engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "base")
        emptied = set(inspect(conn).get_table_names()) - {"alembic_version"}
        command.upgrade(config, "head")
        tables = set(inspect(conn).get_table_names())
        revision = current_revision(conn)
    store.close()

    assert emptied == set()
    assert revision == HEAD_REVISION
    assert {"files", "images", "embeddings", "captions", "vector_removals"} <= tables


def test_a_batch_is_stored_whole_and_read_back(database: Path | str) -> None:
    store = Store(database)
    model = _model(store)
    first = _embedded("/photos/a.jpg", "hash-a", 1, "2024-05-01T10:00:00")
    failed = FailedFile(FileStat("/photos/bad.jpg", 5, MTIME_NS), "not an image")

    store.write_batch(model.id, [first], failed=[failed])
    store.write_batch(model.id, linked=[LinkedFile(FileStat("/photos/copy.jpg", 101, 1), "hash-a")])

    assert store.vectors.counts() == {
        "files_ok": 2,
        "files_failed": 1,
        "images": 1,
        "embeddings": 1,
    }
    assert store.vectors.failures() == [("/photos/bad.jpg", "not an image")]
    (hits,) = store.vectors.hits([1]).values()
    assert [hit.path for hit in hits] == ["/photos/a.jpg", "/photos/copy.jpg"]
    stored = store.vectors.stored_vector("/photos/a.jpg", 101, MTIME_NS, model.id)
    assert stored is not None and np.array_equal(stored, first.vector)
    assert store.is_embedded("hash-a", model.id) and not store.is_embedded("hash-b", model.id)
    known = store.known_files(["/photos"], model.id)
    assert known["/photos/a.jpg"].embedded and not known["/photos/bad.jpg"].embedded
    store.close()


def test_a_rewritten_batch_changes_nothing_but_the_generation(database: Path | str) -> None:
    store = Store(database)
    model = _model(store)
    batch = [_embedded(f"/photos/{i}.jpg", f"hash-{i}", i) for i in range(5)]
    store.write_batch(model.id, batch)
    before = vector_state(store.engine)

    store.write_batch(model.id, batch)

    after = vector_state(store.engine)
    assert store.vectors.counts()["embeddings"] == 5
    assert after.generation == before.generation + 1 and after.revision != before.revision
    changes = vector_changes(store.engine, model.id, DIM, 0, 0)
    assert changes.total == 5
    assert np.array_equal(changes.vectors[np.argsort(changes.ids)], [b.vector for b in batch])
    store.close()


def test_removing_files_logs_their_vectors_for_index_holders(database: Path | str) -> None:
    store = Store(database)
    model = _model(store)
    store.write_batch(model.id, [_embedded(f"/photos/{i}.jpg", f"hash-{i}", i) for i in range(4)])
    held = vector_state(store.engine)

    store.remove_files(["/photos/1.jpg", "/photos/2.jpg"])

    changes = vector_changes(store.engine, model.id, DIM, after_id=4, after_seq=held.removal_seq)
    assert sorted(changes.dropped.tolist()) == [2, 3]
    assert changes.state.removed == held.removed + 2
    assert changes.total == 2 and changes.ids.size == 0
    store.close()


def test_filters_and_capture_times_agree(database: Path | str) -> None:
    store = Store(database)
    model = _model(store)
    store.write_batch(
        model.id,
        [
            _embedded("/photos/2024/a.jpg", "hash-a", 1, "2024-05-01T10:00:00"),
            _embedded("/photos/2023/b.png", "hash-b", 2),
        ],
    )

    in_2024 = store.photos.candidates(PhotoFilter(folders=("/photos/2024",)), model.id)
    pngs = store.photos.candidates(PhotoFilter(file_types=("png",)), model.id)
    from_file_time = store.photos.candidates(PhotoFilter(taken_before=date(2023, 12, 31)), model.id)
    photo = store.photos.photo(2, model.id)

    assert in_2024.tolist() == [1] and pngs.tolist() == [2] and from_file_time.tolist() == [2]
    local = time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(MTIME_NS // 1_000_000_000))
    assert photo is not None and photo.taken_at == local and photo.captured_at is None
    store.close()


def test_tags_and_captions_are_upserted_and_found(database: Path | str) -> None:
    store = Store(database)
    model = _model(store)
    store.write_batch(model.id, [_embedded(f"/photos/{i}.jpg", f"hash-{i}", i) for i in range(3)])
    vocabulary, _ = store.tags.save_vocabulary("default", ["dog", "cat"], ["{}"], 0.1, 2, None)

    store.tags.write_tags(vocabulary.id, [1, 2, 3], [(1, "dog", 0.5), (2, "cat", 0.4)])
    store.tags.write_tags(vocabulary.id, [1, 2, 3, 99], [(1, "dog", 0.7)])
    store.captions.write([NewCaption(2, "m", "p", "Two receipts on a table in Paris")])
    store.captions.write([NewCaption(3, "m", "p", "A dog running on the beach")])

    assert store.tags.counts(model.id) == [("default", "cat", 1), ("default", "dog", 1)]
    assert store.tags.untagged_count(vocabulary.id, model.id) == 0
    assert [t.score for t in store.tags.tags_of_file("/photos/0.jpg", model.id)] == [0.7]
    assert store.captions.matches("receipt", model.id, 10) == [2]
    assert store.captions.matches("dogs at the beach", model.id, 10) == [3]
    assert store.captions.matches("zebra", model.id, 10) == []
    store.close()


def test_file_names_that_are_not_utf8_are_stored_losslessly_and_apart(
    database: Path | str,
) -> None:
    import os

    store = Store(database)
    model = _model(store)
    latin1 = os.fsdecode(b"/photos/caf\xe9.jpg")  # the byte 0xE9, not UTF-8
    lookalike = "/photos/caf\\xe9.jpg"  # a valid name: backslash, x, e, 9
    store.write_batch(model.id, [_embedded(latin1, "hash-a", 1), _embedded(lookalike, "hash-b", 2)])

    known = store.known_files(["/photos"], model.id)
    in_folder = store.photos.candidates(PhotoFilter(folders=("/photos",)), model.id)
    removed = store.remove_files([latin1])

    assert set(known) == {latin1, lookalike}
    assert {os.fsencode(path) for path in known} == {
        b"/photos/caf\xe9.jpg",
        b"/photos/caf\\xe9.jpg",
    }
    assert sorted(in_folder.tolist()) == [1, 2]
    assert removed == 1 and set(store.known_files(["/photos"], model.id)) == {lookalike}
    store.close()


def test_a_folder_filter_admits_exactly_that_folder_under_a_language_collation(
    postgres_server: PostgresServer,
) -> None:
    store = Store(postgres_server.create_database("icu", icu_locale="en-US"))
    model = _model(store)
    inside = ["/p/a/x.jpg", "/p/a/.hidden/y.jpg", "/p/a/b c/z.jpg", "/p/a/A/w.jpg"]
    outside = ["/p/a-b/x.jpg", "/p/a b/x.jpg", "/p/a.b/x.jpg", "/p/ab/x.jpg", "/p/a0/x.jpg"]
    paths = inside + outside + ["/p/A/x.jpg", "/p/a_/x.jpg"]
    store.write_batch(model.id, [_embedded(p, f"hash-{i}", i) for i, p in enumerate(paths)])

    admitted = store.photos.candidates(PhotoFilter(folders=("/p/a",)), model.id)
    known = store.known_files(["/p/a"], model.id)

    expected = [paths.index(p) + 1 for p in inside]
    assert admitted.tolist() == expected and sorted(known) == sorted(inside)
    store.close()
