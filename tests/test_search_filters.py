"""Filters (folder, capture date from EXIF else file time, tags, type, camera, size) combined
with a query return exactly what a brute-force filter + rank returns, on the exact path for few
candidates and on the selector path for many; date sort and pagination as documented."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

import numpy as np
import pytest

import searchapp.search
from searchapp.errors import InvalidQueryError
from searchapp.filters import parse_filter, parse_min_score
from searchapp.query import Query
from searchapp.search import DATE_SORT_POOL, SearchOptions
from searchapp.store.photo_queries import PhotoFilter
from tests.search_library import KnownPhoto, SearchLibrary, search_library

__all__ = ["search_library"]
QUERY = "a green triangle on a white wall"


def filters(lib: SearchLibrary) -> list[tuple[PhotoFilter, Callable[[KnownPhoto], bool]]]:
    root = str(lib.photos[0].path.parents[2])
    return [
        (parse_filter([f"{root}/trips"]), lambda p: p.folder.startswith("trips")),
        (parse_filter([f"{root}/trips/2022"]), lambda p: p.folder == "trips/2022"),
        (
            parse_filter(taken_after="2022-01-01", taken_before="2022-12-31"),
            lambda p: p.taken_at.startswith("2022"),
        ),
        (parse_filter(file_types=["png"]), lambda p: p.file_type == "png"),
        (parse_filter(file_types=["jpg"]), lambda p: p.file_type == "jpeg"),
        (parse_filter(cameras=["nikon"]), lambda p: p.camera == "NIKON D750"),
        (parse_filter(min_width=150), lambda p: p.width >= 150),
        (
            parse_filter(min_height=100, file_types=["jpeg"]),
            lambda p: p.height >= 100 and p.file_type == "jpeg",
        ),
    ]


@pytest.mark.parametrize("exact_limit", [4096, 0], ids=["exact-subset", "selector"])
def test_filtered_search_equals_brute_force_filter_and_rank(
    search_library: SearchLibrary, monkeypatch: pytest.MonkeyPatch, exact_limit: int
) -> None:
    monkeypatch.setattr(searchapp.search, "EXACT_CANDIDATES", exact_limit)
    lib = search_library
    query = lib.reference.texts([QUERY])[0]
    for photo_filter, admits in filters(lib):
        admitted = [p for p in lib.photos if admits(p)]
        assert admitted, photo_filter
        response = lib.service.search(QUERY, photo_filter, SearchOptions(top_k=100))
        assert [r.path for r in response.results] == lib.ranked(query, admitted), photo_filter
        assert response.candidates == len(admitted)


@pytest.mark.parametrize("exact_limit", [4096, 0], ids=["exact-subset", "selector"])
def test_a_filter_matching_at_least_top_k_photos_returns_top_k(
    search_library: SearchLibrary, monkeypatch: pytest.MonkeyPatch, exact_limit: int
) -> None:
    monkeypatch.setattr(searchapp.search, "EXACT_CANDIDATES", exact_limit)
    trips = parse_filter([str(search_library.photos[0].path.parents[1])])
    matching = sum(p.folder.startswith("trips") for p in search_library.photos)

    results = search_library.service.search(QUERY, trips, SearchOptions(top_k=5)).results
    everything = search_library.service.search(QUERY, trips, SearchOptions(top_k=100)).results

    assert len(results) == 5
    assert len(everything) == matching


def test_taken_before_includes_that_whole_day_and_file_time_stands_in_for_exif(
    search_library: SearchLibrary,
) -> None:
    lib = search_library
    png = next(p for p in lib.photos if p.file_type == "png")
    day = date.fromisoformat(png.taken_at[:10])

    results = lib.service.search(
        QUERY, parse_filter(taken_after=day, taken_before=day), SearchOptions(top_k=100)
    ).results

    assert [r.path for r in results] == [str(png.path)]
    assert results[0].taken_at == png.taken_at and results[0].captured_at is None


def test_date_sort_orders_the_relevant_results_newest_first(
    search_library: SearchLibrary,
) -> None:
    lib = search_library
    by_score = lib.service.search(QUERY, options=SearchOptions(top_k=100)).results
    cutoff = by_score[9].score
    options = SearchOptions(top_k=100, min_score=cutoff, sort="date")

    by_date = lib.service.search(QUERY, options=options).results

    relevant = [r for r in by_score if r.score >= cutoff][:DATE_SORT_POOL]
    expected = sorted(relevant, key=lambda r: r.path)
    expected.sort(key=lambda r: r.taken_at or "", reverse=True)
    assert [r.path for r in by_date] == [r.path for r in expected]
    assert len(by_date) == 10


def test_pages_are_stable_and_add_up_to_the_whole_ranking(search_library: SearchLibrary) -> None:
    service = search_library.service
    whole = [r.path for r in service.search(QUERY, options=SearchOptions(top_k=24)).results]

    pages = [
        [r.path for r in service.search(QUERY, options=SearchOptions(top_k=7, offset=o)).results]
        for o in (0, 7, 14, 21)
    ]

    assert [p for page in pages for p in page] == whole
    assert pages[1] == [
        r.path for r in service.search(QUERY, options=SearchOptions(top_k=7, offset=7)).results
    ]


def test_a_filter_nothing_matches_returns_no_results(search_library: SearchLibrary) -> None:
    response = search_library.service.search(
        Query.text(QUERY), parse_filter(cameras=["Hasselblad"]), SearchOptions(top_k=10)
    )

    assert response.results == [] and response.candidates == 0


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: parse_filter(taken_after="2021-13-01"), "must be a date"),
        (lambda: parse_filter(taken_after="2022-01-02", taken_before="2022-01-01"), "later"),
        (lambda: parse_filter(file_types=["docx"]), "Unknown file type"),
        (lambda: parse_filter(["relative/folder"], require_absolute=True), "absolute"),
        (lambda: parse_min_score("nan"), "between -1 and 1"),
        (lambda: parse_min_score("5"), "between -1 and 1"),
        (lambda: parse_min_score("high"), "'auto'"),
        (lambda: SearchOptions(top_k=0), "top_k"),
        (lambda: SearchOptions(top_k=10, sort="name"), "sort"),  # type: ignore[arg-type]
    ],
)
def test_bad_filter_and_option_values_say_what_is_wrong(
    call: Callable[[], object], message: str
) -> None:
    with pytest.raises(InvalidQueryError, match=message):
        call()


def test_timings_name_every_stage(search_library: SearchLibrary) -> None:
    response = search_library.service.search(QUERY, parse_filter(file_types=["png"]))

    assert {"encode", "filter", "vector_search", "metadata", "total"} <= set(response.timings)
    assert all(np.isfinite(ms) and ms >= 0 for ms in response.timings.values())
