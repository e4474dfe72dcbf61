"""Queries that combine weighted texts, image files and indexed photos: rclip's syntax parsed as
documented, and rankings equal to a direct open_clip computation of the normalised weighted sum."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from searchapp.errors import InvalidQueryError, PhotoNotFoundError
from searchapp.query import (
    ImageFileTerm,
    PhotoTerm,
    Query,
    TextTerm,
    WeightedTerm,
    parse_query,
)
from searchapp.search import SearchOptions
from tests.search_library import SearchLibrary, search_library

__all__ = ["search_library"]
ALL = SearchOptions(top_k=100)


def test_rclip_syntax_gives_weights_signs_and_term_kinds(tmp_path: Path) -> None:
    pool = tmp_path / "pool.jpg"
    pool.write_bytes(b"x")

    query = parse_query(f"2:golden retriever + {pool} - fruit + 0.5:photo:7")

    assert query.positive == (
        WeightedTerm(TextTerm("golden retriever"), 2.0),
        WeightedTerm(ImageFileTerm(pool), 1.0),
        WeightedTerm(PhotoTerm(7), 0.5),
    )
    assert query.negative == (WeightedTerm(TextTerm("fruit"), 1.0),)


def test_operators_need_spaces_so_hyphenated_words_stay_whole() -> None:
    query = parse_query("black-and-white photo of a t-rex")

    assert query.positive == (WeightedTerm(TextTerm("black-and-white photo of a t-rex")),)
    assert query.negative == ()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("cat + ", "empty term"),
        ("0:cat", "positive"),
    ],
)
def test_malformed_queries_say_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(InvalidQueryError, match=message):
        parse_query(text)


def test_terms_that_cancel_out_are_refused(search_library: SearchLibrary) -> None:
    with pytest.raises(InvalidQueryError, match="cancel"):
        search_library.service.search(parse_query("a cat - a cat"))


def test_combined_query_ranks_as_the_normalised_weighted_sum(
    search_library: SearchLibrary,
) -> None:
    lib = search_library
    image = lib.photos[5].path
    query = parse_query(f"2:a red square + {image} - a blue circle")
    texts = lib.reference.texts(["a red square", "a blue circle"])
    expected = 2 * texts[0] + lib.vectors[5] - texts[1]
    expected /= np.linalg.norm(expected)

    results = lib.service.search(query, options=ALL).results

    assert [r.path for r in results] == lib.ranked(expected, list(lib.photos))
    reference_scores = sorted((lib.vectors @ expected).tolist(), reverse=True)
    np.testing.assert_allclose([r.score for r in results], reference_scores, atol=1e-4)


def test_an_indexed_photo_term_uses_its_stored_vector(search_library: SearchLibrary) -> None:
    lib = search_library
    photo_id = lib.service.store.photos.photo_id_of(str(lib.photos[3].path))
    assert photo_id is not None

    by_id = lib.service.search(Query.photo(photo_id), options=ALL).results
    by_file = lib.service.search(Query.image(lib.photos[3].path), options=ALL).results

    assert by_id[0].path == str(lib.photos[3].path)
    assert [r.path for r in by_id] == [r.path for r in by_file]


def test_a_negative_term_demotes_its_matches(search_library: SearchLibrary) -> None:
    service = search_library.service
    plain = [r.path for r in service.search("a photo of a dog", options=ALL).results]
    demoted = plain[0]

    negated = service.search(parse_query(f"a photo of a dog - {demoted}"), options=ALL).results
    paths = [r.path for r in negated]

    assert paths.index(demoted) > plain.index(demoted)
    assert paths[0] != demoted


def test_an_unknown_photo_id_is_one_clear_error(search_library: SearchLibrary) -> None:
    with pytest.raises(PhotoNotFoundError, match="No indexed photo has the id 999"):
        search_library.service.search(Query.photo(999))
