"""A small local Ray cluster for the distributed-indexing tests, and the library they index."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType

import pytest

from searchapp.config import Settings
from searchapp.indexing import IndexSummary
from searchapp.models.base import ModelSpec
from searchapp.service import IndexRequest, LibraryService
from tests.conftest import TinyModel
from tests.photos import make_photo

REPO = Path(__file__).resolve().parents[2]
PHOTOS = 24


@pytest.fixture(scope="session")
def ray_cluster() -> Iterator[ModuleType]:
    """`ray.init(num_cpus=2)` on this machine, once for the tests that need it; shut down
    after them, so no Ray process outlives the suite."""
    ray = pytest.importorskip("ray", reason="Ray is not installed (the [scale] extra)")
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        log_to_driver=False,
        runtime_env={"env_vars": {"PYTHONPATH": str(REPO)}},
    )
    try:
        yield ray
    finally:
        ray.shutdown()


@pytest.fixture(scope="session")
def ray_library(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A few dozen photos: distinct ones in two folders (one named with bytes that are not
    UTF-8), one copied under another name (linked, not embedded twice) and one file that is not
    an image (recorded as failed)."""
    root = tmp_path_factory.mktemp("ray-library") / "photos"
    for i in range(PHOTOS - 1):
        make_photo((root / "trip" if i % 4 == 0 else root) / f"photo_{i:02d}.jpg", seed=100 + i)
    make_photo(root / os.fsdecode(b"caf\xe9.jpg"), seed=99)
    shutil.copyfile(root / "photo_01.jpg", root / "trip" / "copy_of_01.jpg")
    (root / "broken.jpg").write_bytes(b"these bytes are no JPEG")
    return root


def settings_for(data_dir: Path, **extra: object) -> Settings:
    """The test suite's settings (torch fp32, small batches: several store transactions)."""
    values: dict[str, object] = {
        "data_dir": data_dir,
        "runtime": "torch",
        "precision": "fp32",
        "batch_size": 4,
        "auto_tag": False,
        **extra,
    }
    return Settings(**values)  # type: ignore[arg-type]


QUERIES = ("a red car on a road", "mountains at dawn", "a bowl of fruit")


def spec_of(model: TinyModel) -> ModelSpec:
    return ModelSpec(model.name, str(model.checkpoint), model.config_path)


def index(
    data_dir: Path,
    photos: Path,
    model: TinyModel,
    runner: str,
    reindex: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> IndexSummary:
    with LibraryService(settings_for(data_dir)) as service:
        request = IndexRequest(spec_of(model), reindex=reindex, tag=False, runner=runner)
        return service.index([photos], request, progress).summary


def rankings(data_dir: Path) -> list[list[str]]:
    with LibraryService(settings_for(data_dir)) as service:
        return [[hit.path for hit in service.search(q).results] for q in QUERIES]


@pytest.fixture(scope="session")
def local_reference(
    tmp_path_factory: pytest.TempPathFactory, ray_library: Path, tiny_model: TinyModel
) -> Path:
    """The same photos indexed by the local pipeline."""
    data_dir = tmp_path_factory.mktemp("local-reference")
    summary = index(data_dir, ray_library, tiny_model, "local")
    assert (summary.indexed, len(summary.failed)) == (PHOTOS + 1, 1)
    return data_dir
