"""Every endpoint over HTTP on a real uvicorn server: results equal the in-process service's and
open_clip's own ranking; photos by id; thumbnails with ETags; tags, classify, tagging runs."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from PIL import Image

from searchapp.query import PhotoTerm, Query, TextTerm, WeightedTerm
from searchapp.search import SearchOptions
from searchapp.service import LibraryService
from tests.api.conftest import IndexedLibrary
from tests.conftest import TinyModel
from tests.reference import ReferenceModel

STAGES = {"encode", "vector_search", "metadata", "total"}


@pytest.fixture(scope="module")
def service(indexed_library: IndexedLibrary) -> Iterator[LibraryService]:
    with LibraryService(indexed_library.settings()) as service:
        yield service


def hits(response: httpx.Response) -> list[dict[str, Any]]:
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body["timings"]) >= STAGES
    assert all(ms >= 0 for ms in body["timings"].values())
    results: list[dict[str, Any]] = body["results"]
    return results


def as_http(results: list[Any]) -> list[dict[str, Any]]:
    return [hit.as_dict() for hit in results]


def test_health_is_json_and_open(api: httpx.Client) -> None:
    response = api.get("/health")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"


def test_a_text_search_over_http_equals_the_service_and_open_clips_ranking(
    api: httpx.Client,
    service: LibraryService,
    indexed_library: IndexedLibrary,
    tiny_model: TinyModel,
) -> None:
    results = hits(api.get("/search", params={"q": "a red square", "top_k": 20}))

    direct = service.search("a red square", options=SearchOptions(top_k=20)).results
    assert results == as_http(direct)
    paths = sorted(p for p in indexed_library.photos.rglob("*") if p.is_file())
    reference = ReferenceModel(tiny_model)
    scores = reference.images(paths) @ reference.texts(["a red square"])[0]
    order = [str(paths[i]) for i in np.argsort(-scores, kind="stable")]
    assert [hit["path"] for hit in results] == order
    assert [hit["score"] for hit in results] == pytest.approx(sorted(scores)[::-1], abs=1e-4)
    assert all(Path(hit["path"]).is_absolute() for hit in results)


def test_get_search_filters_pages_and_sorts_like_the_service(
    api: httpx.Client, service: LibraryService, indexed_library: IndexedLibrary
) -> None:
    trip = str(indexed_library.photos / "trip")
    params: dict[str, Any] = {"q": "photo", "top_k": 2, "offset": 1, "folder": trip}
    results = hits(api.get("/search", params=params))
    photo_filter = service_filter(folders=[trip])
    direct = service.search("photo", photo_filter, SearchOptions(top_k=2, offset=1)).results
    assert results == as_http(direct) and len(results) == 2
    assert all(hit["path"].startswith(trip + "/") for hit in results)

    pngs = hits(api.get("/search", params={"q": "photo", "type": "png", "sort": "date"}))
    assert [Path(hit["path"]).name for hit in pngs] == ["drawing.png"]
    later = hits(api.get("/search", params={"q": "photo", "taken_after": "2999-01-01"}))
    assert later == []
    auto = api.get("/search", params={"q": "photo", "min_score": "auto"})
    assert auto.status_code == 200 and auto.json()["cutoff"] is not None


def service_filter(**parts: Any) -> Any:
    from searchapp.filters import parse_filter

    return parse_filter(**parts)


def test_post_search_combines_weighted_texts_and_photos_like_the_service(
    api: httpx.Client, service: LibraryService
) -> None:
    first = hits(api.get("/search", params={"q": "a dog"}))[0]["id"]
    body = {
        "positive": [{"text": "a dog", "weight": 2.0}, {"image_id": first}],
        "negative": [{"text": "a cat", "weight": 0.5}],
        "top_k": 5,
        "sort": "score",
    }
    results = hits(api.post("/search", json=body))

    query = Query(
        (WeightedTerm(TextTerm("a dog"), 2.0), WeightedTerm(PhotoTerm(first))),
        (WeightedTerm(TextTerm("a cat"), 0.5),),
    )
    assert results == as_http(service.search(query, options=SearchOptions(top_k=5)).results)
    rclip = hits(
        api.get("/search", params={"q": f"2:a dog + photo:{first} - 0.5:a cat", "top_k": 5})
    )
    assert rclip == results


def test_an_uploaded_photo_finds_itself_first(
    api: httpx.Client, indexed_library: IndexedLibrary
) -> None:
    path = indexed_library.photos / "photo_04.jpg"
    with path.open("rb") as fh:
        response = api.post("/search/image", files={"file": ("q.jpg", fh)}, params={"top_k": 3})
    results = hits(response)
    assert results[0]["path"] == str(path) and results[0]["score"] == pytest.approx(1, abs=1e-3)
    assert len(results) == 3


def test_photo_details_file_and_thumbnail_by_id(
    api: httpx.Client, indexed_library: IndexedLibrary
) -> None:
    path = indexed_library.photos / "drawing.png"
    photo = next(
        h
        for h in hits(api.get("/search", params={"q": "x", "top_k": 50}))
        if h["path"] == str(path)
    )
    details = api.get(f"/images/{photo['id']}").json()
    assert details["path"] == str(path) and details["width"] == 80 and details["tags"] == []

    original = api.get(f"/images/{photo['id']}/file")
    assert original.status_code == 200 and original.content == path.read_bytes()
    assert original.headers["content-type"] == "image/png"

    thumb = api.get(f"/images/{photo['id']}/thumbnail", params={"size": 40})
    assert thumb.status_code == 200 and thumb.headers["content-type"] == "image/webp"
    assert "max-age" in thumb.headers["cache-control"]
    with Image.open(__import__("io").BytesIO(thumb.content)) as image:
        assert image.size == (40, 30)
    again = api.get(
        f"/images/{photo['id']}/thumbnail",
        params={"size": 40},
        headers={"If-None-Match": thumb.headers["etag"]},
    )
    assert again.status_code == 304 and again.content == b""


def test_status_tags_classify_and_a_tagging_run(api: httpx.Client) -> None:
    status = api.get("/status").json()
    assert status["files_ok"] >= 13 and status["model"]
    photo = hits(api.get("/search", params={"q": "x"}))[0]["id"]

    ranked = api.post(
        "/classify", json={"image_id": photo, "labels": ["dog", "cat", "tree"], "top_k": 2}
    )
    assert ranked.status_code == 200, ranked.text
    assert len(ranked.json()["labels"]) == 2

    run = api.post(
        "/tag", json={"name": "pets", "labels": ["dog", "cat"], "threshold": 0.0, "top_k": 1}
    )
    assert run.status_code == 200, run.text
    assert run.json()["vocabulary"] == "pets" and run.json()["tags"] >= 13
    counts = api.get("/tags", params={"vocabulary": "pets"}).json()["tags"]
    assert sum(row["photos"] for row in counts) >= 13
    label = counts[0]["label"]
    tagged = hits(api.get("/search", params={"q": "x", "tag": label, "top_k": 50}))
    assert len(tagged) == counts[0]["photos"]
    assert api.post("/tag/new").status_code == 200
