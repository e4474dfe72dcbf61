"""`searchapp index` past SEARCHAPP_ANN_MIN_PHOTOS builds the approximate index before it exits,
and `searchapp status --json` reports its kind, parameters and whether a build runs."""

from __future__ import annotations

import json
from pathlib import Path

from searchapp.config import Settings
from searchapp.library import Library
from searchapp.models.base import ModelSpec
from tests.conftest import CliRunner, TinyModel
from tests.vector_sets import add_vectors, clustered

PAST_THRESHOLD = {"SEARCHAPP_ANN_MIN_PHOTOS": "1000"}


def _library_of_generated_vectors(data_dir: Path, tiny_model: TinyModel, n: int) -> None:
    """`n` generated vectors already stored for the tiny model, as if indexed earlier."""
    library = Library(Settings(data_dir=data_dir))
    spec = ModelSpec(tiny_model.name, str(tiny_model.checkpoint), tiny_model.config_path)
    model = library.indexing_model(spec)
    library.store.activate_model(model.id)
    add_vectors(library.store, model, clustered(n, model.dim))
    library.close()


def test_index_past_the_threshold_builds_the_approximate_index_and_status_reports_it(
    cli: CliRunner, tiny_model: TinyModel, photo_dir: Path, data_dir: Path
) -> None:
    _library_of_generated_vectors(data_dir, tiny_model, 1200)

    cli("index", str(photo_dir), "--no-tag", env=PAST_THRESHOLD)
    status = json.loads(cli("status", "--json", env=PAST_THRESHOLD).stdout)
    results = json.loads(cli("search", "a photo", "--json", "-k", "3", env=PAST_THRESHOLD).stdout)

    vector_index = status["vector_index"]
    assert vector_index["kind"] == "ivf_sq8" and vector_index["building"] is False
    assert vector_index["params"]["nlist"] > 0 and vector_index["params"]["nprobe"] > 0
    assert vector_index["count"] == 1212
    assert len(results) == 3


def test_below_the_threshold_the_index_stays_exact(
    cli: CliRunner, tiny_model: TinyModel, photo_dir: Path
) -> None:
    cli("index", str(photo_dir), *tiny_model.flags, "--no-tag")

    status = json.loads(cli("status", "--json").stdout)

    assert status["vector_index"]["kind"] == "exact"
    assert status["vector_index"]["params"] == {} and status["vector_index"]["count"] == 12
