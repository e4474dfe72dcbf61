"""Search results must equal an exact ranking computed directly with open_clip."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import CliRunner, TinyModel
from tests.photos import make_photo
from tests.reference import ReferenceModel

EXACT = {"SEARCHAPP_FAST_JPEG_DECODE": "false"}


def _assert_same_ranking(
    results: list[dict[str, object]], paths: list[Path], scores: np.ndarray
) -> None:
    order = np.argsort(-scores, kind="stable")
    assert [r["path"] for r in results] == [str(paths[i]) for i in order][: len(results)]
    np.testing.assert_allclose(
        [r["score"] for r in results], scores[order][: len(results)], atol=2e-4
    )


@pytest.fixture
def indexed(cli: CliRunner, tiny_model: TinyModel, photo_dir: Path) -> list[Path]:
    cli("index", str(photo_dir), *tiny_model.flags, "--json", env=EXACT)
    return sorted(photo_dir.rglob("*.jpg"))


@pytest.mark.parametrize("query", ["a red circle on a blue background", "kids on a beach"])
def test_text_search_equals_brute_force_ranking(
    cli: CliRunner, tiny_model: TinyModel, indexed: list[Path], query: str
) -> None:
    reference = ReferenceModel(tiny_model)
    scores = reference.images(indexed) @ reference.texts([query])[0]

    out = cli("search", query, "--json", "--top-k", str(len(indexed)), env=EXACT)

    _assert_same_ranking(json.loads(out.stdout), indexed, scores)


def test_similar_to_an_outside_image_equals_brute_force_ranking(
    cli: CliRunner, tiny_model: TinyModel, indexed: list[Path], tmp_path: Path
) -> None:
    outside = make_photo(tmp_path / "elsewhere" / "query.jpg", seed=999)
    reference = ReferenceModel(tiny_model)
    scores = reference.images(indexed) @ reference.images([outside])[0]

    out = cli("similar", str(outside), "--json", "-k", "5", env=EXACT)

    _assert_same_ranking(json.loads(out.stdout), indexed, scores)


def test_similar_on_an_indexed_photo_returns_itself_first(
    cli: CliRunner, indexed: list[Path]
) -> None:
    target = indexed[4]

    results = json.loads(cli("similar", str(target), "--json", "-k", "3").stdout)

    assert results[0]["path"] == str(target)
    assert results[0]["score"] == pytest.approx(1.0, abs=1e-4)
    assert results[1]["score"] < results[0]["score"]


def test_top_k_and_min_score_cut_the_ranking(cli: CliRunner, indexed: list[Path]) -> None:
    everything = json.loads(cli("search", "a photo", "--json", "-k", "12").stdout)
    cutoff = everything[4]["score"] - 1e-5
    assert everything[5]["score"] < cutoff

    top3 = json.loads(cli("search", "a photo", "--json", "-k", "3").stdout)
    above = json.loads(
        cli("search", "a photo", "--json", "-k", "12", "--min-score", str(cutoff)).stdout
    )

    assert top3 == everything[:3]
    assert [r["path"] for r in above] == [r["path"] for r in everything[:5]]


def test_human_output_is_a_table_of_paths(cli: CliRunner, indexed: list[Path]) -> None:
    out = cli("search", "a photo", "-k", "2").stdout

    assert "score" in out and "path" in out
    assert sum(str(p) in out for p in indexed) == 2


def _export_of(data_dir: Path) -> Path:
    from searchapp.models.export_cache import export_dir
    from searchapp.store import Store

    store = Store(data_dir / "library.sqlite3")
    try:
        model = store.active_model()
    finally:
        store.close()
    assert model is not None
    return export_dir(Path(os.environ["SEARCHAPP_CACHE_DIR"]), model.identity)


def test_queries_use_the_exported_text_tower_and_rank_as_open_clip(
    cli: CliRunner, tiny_model: TinyModel, indexed: list[Path], data_dir: Path
) -> None:
    query = "a yellow square"
    reference = ReferenceModel(tiny_model)
    scores = reference.images(indexed) @ reference.texts([query])[0]

    first = json.loads(cli("search", query, "--json", "-k", "12", env=EXACT).stdout)
    second = json.loads(cli("search", query, "--json", "-k", "12", env=EXACT).stdout)

    assert (_export_of(data_dir) / "text.onnx").is_file()
    assert second == first
    _assert_same_ranking(second, indexed, scores)


def test_a_damaged_text_tower_export_is_made_again_from_the_model(
    cli: CliRunner, indexed: list[Path], data_dir: Path
) -> None:
    first = json.loads(cli("search", "a red circle", "--json", env=EXACT).stdout)
    weights = _export_of(data_dir) / "text.onnx.data"
    weights.write_bytes(b"not a weights file")

    again = cli("search", "a red circle", "--json", env=EXACT)

    assert json.loads(again.stdout) == first
    assert weights.read_bytes() != b"not a weights file"
