"""Captions live in SQLite with their model and prompt, are found by full-text search (FTS5) and
follow their photo: replaced, redone on a new model or prompt, gone with the photo."""

from __future__ import annotations

from pathlib import Path

import pytest

from searchapp.config import Settings
from searchapp.library import Library
from searchapp.store import Store
from searchapp.store.caption_store import NewCaption, fts_query
from tests.conftest import CliRunner, TinyModel

MODEL = "transformers:tiny-llava"
PROMPT = "Describe this photo in one sentence."


@pytest.fixture
def store(cli: CliRunner, tiny_model: TinyModel, photo_dir: Path, data_dir: Path) -> Store:
    cli("index", str(photo_dir), *tiny_model.flags, "--no-tag")
    return Store(Settings(data_dir=data_dir).database_path)


def embedding_of(store: Store, path: Path) -> int:
    (found,) = [
        embedding_id
        for embedding_id, hits in store.vectors.hits(range(1, 1000)).items()
        if any(hit.path == str(path) for hit in hits)
    ]
    return found


def image_of(store: Store, path: Path) -> int:
    pending = store.captions.pending(MODEL, PROMPT, limit=1000)
    return next(p.image_id for p in pending if p.path == str(path))


def test_every_indexed_photo_is_pending_until_captioned(store: Store, photo_dir: Path) -> None:
    pending = store.captions.pending(MODEL, PROMPT, limit=1000)
    assert sorted(p.path for p in pending) == sorted(str(p) for p in photo_dir.rglob("*.jpg"))

    store.captions.write([NewCaption(p.image_id, MODEL, PROMPT, "a photo") for p in pending[:5]])

    assert store.captions.pending_count(MODEL, PROMPT) == len(pending) - 5
    assert store.captions.count() == 5


def test_a_folder_limits_the_pending_photos_to_those_below_it(
    store: Store, photo_dir: Path
) -> None:
    trip = str(photo_dir / "trip")

    pending = store.captions.pending(MODEL, PROMPT, root=trip, limit=1000)

    assert sorted(p.path for p in pending) == sorted(
        str(p) for p in (photo_dir / "trip").glob("*.jpg")
    )
    assert store.captions.pending_count(MODEL, PROMPT, root=trip) == len(pending)


def test_a_new_model_or_prompt_makes_a_captioned_photo_pending_again(
    store: Store, photo_dir: Path
) -> None:
    pending = store.captions.pending(MODEL, PROMPT, limit=1000)
    store.captions.write([NewCaption(p.image_id, MODEL, PROMPT, "a photo") for p in pending])

    assert store.captions.pending_count(MODEL, PROMPT) == 0
    assert store.captions.pending_count("openai:llava:7b", PROMPT) == len(pending)
    assert store.captions.pending_count(MODEL, "What is in it?") == len(pending)


def test_a_rare_caption_word_is_found_and_stemmed(store: Store, photo_dir: Path) -> None:
    photo = photo_dir / "photo_04.jpg"
    store.captions.write([NewCaption(image_of(store, photo), MODEL, PROMPT, "Two receipts, Paris")])
    model_id = Library(Settings(data_dir=store.path.parent)).query_model().id

    assert store.captions.matches("receipt", model_id, 10) == [embedding_of(store, photo)]
    assert store.captions.matches("a café in paris", model_id, 10) == [embedding_of(store, photo)]
    assert store.captions.matches("mountains", model_id, 10) == []


def test_query_text_with_fts_syntax_is_taken_as_words(store: Store) -> None:
    model_id = Library(Settings(data_dir=store.path.parent)).query_model().id

    assert fts_query('NEAR("a" b) AND * OR -x "') == '"near" OR "a" OR "b" OR "and" OR "or" OR "x"'
    assert store.captions.matches('NEAR("a" b) AND * OR -x "', model_id, 10) == []
    assert store.captions.matches("  ... ", model_id, 10) == []


def test_a_replaced_caption_is_searched_by_its_new_words_only(
    store: Store, photo_dir: Path
) -> None:
    photo = photo_dir / "photo_05.jpg"
    image_id = image_of(store, photo)
    model_id = Library(Settings(data_dir=store.path.parent)).query_model().id
    store.captions.write([NewCaption(image_id, MODEL, PROMPT, "a receipt")])

    store.captions.write([NewCaption(image_id, "openai:llava", PROMPT, "a lighthouse")])

    assert store.captions.matches("receipt", model_id, 10) == []
    assert store.captions.matches("lighthouse", model_id, 10) == [embedding_of(store, photo)]
    caption = store.captions.caption_of_file(str(photo))
    assert caption is not None and caption.model == "openai:llava"


def test_a_removed_photo_takes_its_caption_and_its_words_along(
    store: Store, photo_dir: Path
) -> None:
    photo = photo_dir / "photo_07.jpg"
    store.captions.write([NewCaption(image_of(store, photo), MODEL, PROMPT, "a receipt")])
    model_id = Library(Settings(data_dir=store.path.parent)).query_model().id

    store.remove_files([str(photo)])

    assert store.captions.count() == 0
    assert store.captions.matches("receipt", model_id, 10) == []
