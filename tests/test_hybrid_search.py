"""Hybrid search merges CLIP's ranking with the captions' full-text ranking by reciprocal rank
fusion: a photo whose caption holds a rare word is found even when CLIP ranks it last."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from searchapp.config import Settings
from searchapp.hybrid import RRF_K, reciprocal_rank_fusion
from searchapp.search import SearchOptions
from searchapp.service import LibraryService
from searchapp.store.caption_store import NewCaption
from tests.conftest import CliRunner, TinyModel
from tests.reference import ReferenceModel

EXACT = {"SEARCHAPP_FAST_JPEG_DECODE": "false"}
QUERY = "the receipt from the corner shop"


def test_fusion_sums_reciprocal_ranks_and_breaks_ties_by_the_first_list() -> None:
    fused = reciprocal_rank_fusion([[10, 20, 30], [30, 40]])

    assert [item for item, _ in fused] == [30, 10, 20, 40]
    assert fused[0][1] == pytest.approx(1 / (RRF_K + 3) + 1 / (RRF_K + 1))
    assert fused[1][1] == pytest.approx(1 / (RRF_K + 1))
    tied = reciprocal_rank_fusion([[1, 2], [2, 1]])
    assert [item for item, _ in tied] == [1, 2]
    assert tied[0][1] == tied[1][1] == pytest.approx(1 / (RRF_K + 1) + 1 / (RRF_K + 2))


@pytest.fixture
def service(
    cli: CliRunner, tiny_model: TinyModel, photo_dir: Path, data_dir: Path
) -> Iterator[LibraryService]:
    cli("index", str(photo_dir), *tiny_model.flags, "--no-tag", env=EXACT)
    settings = Settings(data_dir=data_dir, fast_jpeg_decode=False, precision="fp32")
    with LibraryService(settings) as service:
        yield service


def search(service: LibraryService, top_k: int, hybrid: bool = False) -> list[str]:
    options = SearchOptions(top_k=top_k, hybrid=hybrid)
    return [r.path for r in service.search(QUERY, options=options).results]


def clip_order(tiny_model: TinyModel, photo_dir: Path, query: str) -> list[str]:
    reference = ReferenceModel(tiny_model)
    paths = sorted(photo_dir.rglob("*.jpg"))
    scores = reference.images(paths) @ reference.texts([query])[0]
    return [str(paths[i]) for i in np.argsort(-scores, kind="stable")]


def test_a_caption_with_the_rare_word_lifts_clips_last_photo_to_the_top(
    service: LibraryService, tiny_model: TinyModel, photo_dir: Path
) -> None:
    order = clip_order(tiny_model, photo_dir, QUERY)
    last = order[-1]
    captions = service.store.captions
    image_id = next(p.image_id for p in captions.pending("m", "p", limit=100) if p.path == last)
    captions.write([NewCaption(image_id, "m", "p", "A crumpled receipt, 3 items")])

    plain = search(service, 12)
    hybrid = service.search(QUERY, options=SearchOptions(top_k=12, hybrid=True)).results

    assert plain == order and plain[-1] == last
    assert [r.path for r in hybrid] == [last, *order[:-1]]
    expected = reciprocal_rank_fusion([list(range(12)), [11]])
    np.testing.assert_allclose([r.score for r in hybrid], [s for _, s in expected], rtol=1e-9)


def test_hybrid_search_without_any_caption_is_clips_ranking(
    service: LibraryService, tiny_model: TinyModel, photo_dir: Path
) -> None:
    hybrid = search(service, 5, hybrid=True)

    assert hybrid == clip_order(tiny_model, photo_dir, QUERY)[:5]


def test_search_hybrid_on_the_command_line_puts_the_captioned_photo_first(
    cli: CliRunner, service: LibraryService, tiny_model: TinyModel, photo_dir: Path
) -> None:
    last = clip_order(tiny_model, photo_dir, QUERY)[-1]
    captions = service.store.captions
    image_id = next(p.image_id for p in captions.pending("m", "p", limit=100) if p.path == last)
    captions.write([NewCaption(image_id, "m", "p", "Receipt of the corner shop")])

    plain = json.loads(cli("search", QUERY, "-k", "3", "--json", env=EXACT).stdout)
    hybrid = json.loads(cli("search", QUERY, "-k", "3", "--hybrid", "--json", env=EXACT).stdout)

    assert last not in [r["path"] for r in plain]
    assert hybrid[0]["path"] == last
