"""With SEARCHAPP_VLM_AUTO_CAPTION the background indexer captions the photos it indexed, a
batch at a time between rounds, and then each new photo."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import TinyModel
from tests.photos import make_photo
from tests.watching import IndexerProcess


def test_the_watch_daemon_captions_indexed_and_new_photos(
    tiny_model: TinyModel,
    tiny_llava: Path,
    photo_dir: Path,
    data_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name, value in {
        "SEARCHAPP_VLM_AUTO_CAPTION": "true",
        "SEARCHAPP_VLM_MODEL": str(tiny_llava),
        "SEARCHAPP_VLM_DEVICE": "cpu",
        "SEARCHAPP_VLM_PRECISION": "fp32",
        "SEARCHAPP_VLM_MAX_NEW_TOKENS": "4",
        "SEARCHAPP_AUTO_TAG": "false",
    }.items():
        monkeypatch.setenv(name, value)
    indexer = IndexerProcess(data_dir, tiny_model, [photo_dir])
    try:
        indexer.wait_for(lambda: indexer.store.captions.count() == 12, "12 captions")
        make_photo(photo_dir / "new.jpg", seed=777)
        indexer.wait_for(lambda: indexer.store.captions.count() == 13, "the new photo captioned")
        caption = indexer.store.captions.caption_of_file(str(photo_dir / "new.jpg"))
    finally:
        indexer.stop()

    assert caption is not None and caption.model == f"transformers:{tiny_llava}"
