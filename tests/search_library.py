"""A small indexed library with known metadata (folders, capture dates from EXIF or the file's
time, cameras, sizes, file types), and the reference vectors of its photos, for checking
searches against brute force."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest
from numpy.typing import NDArray
from PIL import Image

from searchapp.config import Settings
from searchapp.service import LibraryService
from tests.conftest import BASE_ENV, TinyModel
from tests.photos import make_photo
from tests.reference import ReferenceModel

EXACT = {"SEARCHAPP_FAST_JPEG_DECODE": "false"}
CAMERAS = ("Canon EOS 5D", "NIKON D750", None)


@dataclass(frozen=True)
class KnownPhoto:
    path: Path
    folder: str
    taken_at: str
    camera: str | None
    width: int
    height: int
    file_type: str


@dataclass(frozen=True)
class SearchLibrary:
    service: LibraryService
    photos: tuple[KnownPhoto, ...]
    vectors: NDArray[np.float32]
    reference: ReferenceModel

    def ranked(self, query: NDArray[np.float32], admitted: list[KnownPhoto]) -> list[str]:
        """Paths of `admitted`, best first by cosine with `query` (ties by path)."""
        index = {p.path: i for i, p in enumerate(self.photos)}
        scored = [(-float(self.vectors[index[p.path]] @ query), str(p.path)) for p in admitted]
        return [path for _, path in sorted(scored)]


def _exif(taken: datetime, camera: str | None) -> Image.Exif:
    exif = Image.Exif()
    if camera:
        exif[0x010F] = camera.split(" ", 1)[0]
        exif[0x0110] = camera
    exif.get_ifd(0x8769)[0x9003] = taken.strftime("%Y:%m:%d %H:%M:%S")
    return exif


def write_library(root: Path) -> list[KnownPhoto]:
    photos: list[KnownPhoto] = []
    for i in range(24):
        folder = ("trips/2021", "trips/2022", "home")[i % 3]
        size = (96, 72) if i % 4 else (160, 120)
        taken = datetime(2021 + i % 3, 1 + i % 12, 1 + i, 10, 30)
        camera = CAMERAS[i % 3]
        if i % 5 == 4:
            path = make_photo(root / folder / f"p{i:02d}.png", seed=100 + i, size=size)
            mtime = taken.timestamp()
            os.utime(path, (mtime, mtime))
            photos.append(KnownPhoto(path, folder, taken.isoformat(), None, *size, "png"))
            continue
        path = make_photo(
            root / folder / f"p{i:02d}.jpg", seed=100 + i, size=size, exif=_exif(taken, camera)
        )
        photos.append(KnownPhoto(path, folder, taken.isoformat(), camera, *size, "jpeg"))
    return photos


@pytest.fixture(scope="module")
def search_library(
    tiny_model: TinyModel, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SearchLibrary]:
    from typer.testing import CliRunner

    from searchapp.cli.app import app

    root = tmp_path_factory.mktemp("search-library")
    photos = write_library(root / "photos")
    data_dir = root / "data"
    env = {**BASE_ENV, **EXACT, "SEARCHAPP_DATA_DIR": str(data_dir)}
    args = ["index", str(root / "photos"), *tiny_model.flags, "--no-tag", "--json"]
    outcome = CliRunner().invoke(app, args, env=env)
    assert outcome.exit_code == 0, outcome.output
    reference = ReferenceModel(tiny_model)
    vectors = reference.images([p.path for p in photos])
    settings = Settings(data_dir=data_dir, fast_jpeg_decode=False, precision="fp32")
    with LibraryService(settings) as service:
        yield SearchLibrary(service, tuple(photos), vectors, reference)
