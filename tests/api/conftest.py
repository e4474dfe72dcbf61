"""One indexed library for the API tests (the tiny model, twelve photos, a symlink to a file
outside the library) and a real uvicorn server on loopback serving it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from searchapp.config import Settings
from searchapp.service import LibraryService
from tests.api.server import running_server
from tests.conftest import TinyModel, run_searchapp
from tests.photos import make_photo

EXACT = {"SEARCHAPP_FAST_JPEG_DECODE": "false"}


@dataclass(frozen=True)
class IndexedLibrary:
    data_dir: Path
    photos: Path
    outside: Path
    """A photo outside the library, reachable from it through a symlink."""

    def settings(self, **overrides: Any) -> Settings:
        return Settings(data_dir=self.data_dir, fast_jpeg_decode=False, **overrides)


@pytest.fixture(scope="session")
def indexed_library(
    tmp_path_factory: pytest.TempPathFactory, tiny_model: TinyModel
) -> IndexedLibrary:
    root = tmp_path_factory.mktemp("api-library")
    photos = root / "photos"
    for i in range(12):
        make_photo((photos / "trip" if i % 3 == 0 else photos) / f"photo_{i:02d}.jpg", seed=i)
    make_photo(photos / "drawing.png", seed=40, size=(80, 60))
    outside = make_photo(root / "private" / "secret.jpg", seed=99)
    (photos / "link-to-secret.jpg").symlink_to(outside)
    data_dir = root / "data"
    done = run_searchapp(data_dir, "index", str(photos), *tiny_model.flags, "--no-tag", env=EXACT)
    assert done.returncode == 0, done.stderr
    return IndexedLibrary(data_dir, photos, outside)


@contextmanager
def serving(library: IndexedLibrary, **overrides: Any) -> Iterator[tuple[httpx.Client, str]]:
    """A server over the library with these settings, and a client for it."""
    with (
        LibraryService(library.settings(**overrides)) as service,
        running_server(service) as url,
        httpx.Client(base_url=url, timeout=60) as client,
    ):
        yield client, url


@pytest.fixture(scope="session")
def api(indexed_library: IndexedLibrary) -> Iterator[httpx.Client]:
    """A client of a server with the default settings (no token)."""
    with serving(indexed_library) as (client, _):
        yield client
