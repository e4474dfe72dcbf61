"""A small indexed library for the UI tests: fifteen drawn photos (three in a subfolder) indexed
with the suite's tiny model and tagged with a small vocabulary, shared by the UI tests."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import BASE_ENV, TinyModel, run_searchapp
from tests.photos import make_photo

LABELS = ("red", "green", "blue", "circle", "square")


@dataclass(frozen=True)
class UiLibrary:
    data_dir: Path
    photos: Path
    query_photo: Path
    """A picture that is not in the library."""


def _checked(data_dir: Path, *args: str) -> None:
    done = run_searchapp(data_dir, *args)
    assert done.returncode == 0, done.stderr


@pytest.fixture(scope="session")
def ui_library(tmp_path_factory: pytest.TempPathFactory, tiny_model: TinyModel) -> UiLibrary:
    root = tmp_path_factory.mktemp("ui-library")
    photos = root / "photos"
    for i in range(15):
        folder = photos / "trip" if i % 5 == 0 else photos
        make_photo(folder / f"photo_{i:02d}.jpg", seed=100 + i, size=(120, 90))
    query_photo = make_photo(root / "query.png", seed=999, size=(120, 90))
    data_dir = root / "data"
    _checked(data_dir, "index", str(photos), "--no-tag", *tiny_model.flags)
    labels = root / "colours.txt"
    labels.write_text("\n".join(LABELS) + "\n")
    _checked(data_dir, "tag", "--labels", str(labels), "--top-k", "2")
    return UiLibrary(data_dir, photos, query_photo)


@pytest.fixture
def ui_env(monkeypatch: pytest.MonkeyPatch, ui_library: UiLibrary) -> UiLibrary:
    """The process environment a UI on `ui_library` runs with."""
    for name, value in BASE_ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("SEARCHAPP_DATA_DIR", str(ui_library.data_dir))
    return ui_library
