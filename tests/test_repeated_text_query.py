"""A repeated text query reuses the text vectors of its first run (the next page, another
filter or sort): the same results as encoding it again, and an encoder's vectors never serve
another encoder."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from searchapp.search import SearchOptions
from searchapp.text_vector_cache import TextVectorCache
from tests.search_library import SearchLibrary, search_library

__all__ = ["search_library"]


class CountingEncoder:
    """A text "encoder" that numbers its calls (each call's rows differ)."""

    def __init__(self) -> None:
        self.calls = 0

    def encode_texts(self, texts: Sequence[str]) -> NDArray[np.float32]:
        self.calls += 1
        return np.full((len(texts), 4), float(self.calls), dtype=np.float32)


def test_a_repeated_batch_is_encoded_once_and_its_rows_are_read_only() -> None:
    cache, encoder = TextVectorCache(), CountingEncoder()
    first = cache.vectors(encoder, ["a dog", "a cat"], encoder.encode_texts)
    again = cache.vectors(encoder, ["a dog", "a cat"], encoder.encode_texts)
    assert encoder.calls == 1
    np.testing.assert_array_equal(first, again)
    assert not again.flags.writeable
    cache.vectors(encoder, ["a dog"], encoder.encode_texts)  # another batch: encoded itself
    assert encoder.calls == 2


def test_another_encoder_empties_the_cache() -> None:
    cache, old, new = TextVectorCache(), CountingEncoder(), CountingEncoder()
    cache.vectors(old, ["a dog"], old.encode_texts)
    cache.vectors(new, ["a dog"], new.encode_texts)
    cache.vectors(old, ["a dog"], old.encode_texts)
    assert (old.calls, new.calls) == (2, 1)


def test_the_least_recently_used_batch_goes_first() -> None:
    cache, encoder = TextVectorCache(size=2), CountingEncoder()
    for text in ("one", "two", "one", "three"):  # "two" is the oldest when "three" comes
        cache.vectors(encoder, [text], encoder.encode_texts)
    assert encoder.calls == 3
    cache.vectors(encoder, ["one"], encoder.encode_texts)
    assert encoder.calls == 3
    cache.vectors(encoder, ["two"], encoder.encode_texts)
    assert encoder.calls == 4


def test_a_repeated_query_ranks_as_a_fresh_encoding_does(search_library: SearchLibrary) -> None:
    service = search_library.service
    text = "a photo of a sunset over the sea"
    first = service.search(text, options=SearchOptions(top_k=24))
    again = service.search(text, options=SearchOptions(top_k=24))
    page_two = service.search(text, options=SearchOptions(top_k=5, offset=5))
    fresh = search_library.reference.texts([text])[0]
    admitted = list(search_library.photos)
    expected = search_library.ranked(fresh, admitted)
    assert [hit.path for hit in first.results] == expected
    assert [(h.path, h.score) for h in again.results] == [(h.path, h.score) for h in first.results]
    assert [hit.path for hit in page_two.results] == expected[5:10]
