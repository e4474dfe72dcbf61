"""Thumbnails: made once per photo version and size, upright, WebP, cached under the data dir;
a changed photo gets a new one; only indexed files are ever read."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from searchapp.config import Settings
from searchapp.decode import EXIF_ORIENTATION
from searchapp.errors import InvalidQueryError, PhotoNotFoundError
from searchapp.search import SearchOptions
from searchapp.service import LibraryService
from tests.conftest import CliRunner, TinyModel
from tests.photos import make_photo


@pytest.fixture
def service(
    cli: CliRunner, tiny_model: TinyModel, tmp_path: Path, data_dir: Path
) -> Iterator[LibraryService]:
    photos = tmp_path / "photos"
    exif = Image.Exif()
    exif[EXIF_ORIENTATION] = 6  # stored landscape, shown portrait
    make_photo(photos / "rotated.jpg", seed=1, size=(400, 200), exif=exif)
    make_photo(photos / "plain.png", seed=2, size=(300, 150))
    cli("index", str(photos), *tiny_model.flags, "--no-tag")
    with LibraryService(Settings(data_dir=data_dir)) as service:
        yield service


def photo_id(service: LibraryService, name: str) -> int:
    hits = service.search("a photo", options=SearchOptions(top_k=10)).results
    return next(hit.id for hit in hits if hit.path.endswith(name))


def test_a_thumbnail_is_upright_webp_within_the_size_and_cached_under_the_data_dir(
    service: LibraryService, data_dir: Path
) -> None:
    rotated = photo_id(service, "rotated.jpg")

    path = service.thumbnail(rotated, 64)

    assert path.parent == data_dir / "thumbnails"
    with Image.open(path) as image:
        assert image.format == "WEBP"
        assert image.size == (32, 64)
    modified = path.stat().st_mtime_ns
    assert service.thumbnail(rotated, 64) == path
    assert path.stat().st_mtime_ns == modified
    assert service.thumbnail(rotated, 128) != path


def test_a_changed_photo_gets_a_new_thumbnail(service: LibraryService) -> None:
    plain = photo_id(service, "plain.png")
    before = service.thumbnail(plain, 100)
    source = service.photo_file(plain)

    make_photo(source, seed=3, size=(150, 300))
    after = service.thumbnail(plain, 100)

    assert after != before
    with Image.open(after) as image:
        assert image.size == (50, 100)


def test_sizes_out_of_range_and_unknown_ids_are_refused_with_a_message(
    service: LibraryService,
) -> None:
    plain = photo_id(service, "plain.png")
    with pytest.raises(InvalidQueryError, match="between 16 and 2048"):
        service.thumbnail(plain, 4)
    with pytest.raises(PhotoNotFoundError, match="No indexed photo has the id 999999"):
        service.thumbnail(999999, 64)
