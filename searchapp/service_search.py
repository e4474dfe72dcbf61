"""Search use cases of the application layer: a query (text, image file, indexed photo,
upload, vector, or combined terms) to a vector, and that vector to ranked photos."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from searchapp.errors import InvalidQueryError, PhotoNotFoundError
from searchapp.models.base import ModelSpec, ReportsTextOverflow, truncation_note
from searchapp.query import (
    ImageFileTerm,
    PhotoTerm,
    Query,
    Term,
    TextTerm,
    VectorTerm,
    WeightedTerm,
    combine,
)
from searchapp.search import Ranker, SearchOptions, SearchResponse, Stopwatch
from searchapp.service_core import ServiceCore
from searchapp.store.photo_queries import PhotoFilter

if TYPE_CHECKING:
    from searchapp.store import StoredModel

SEARCH_STAGES = ("encode", "index", "vector_search", "metadata", "rank")


class SearchUseCases(ServiceCore):
    def _ranker(self, model: StoredModel) -> Ranker:
        with self._model_lock:
            ranker = self._rankers.get(model.id)
            if ranker is None:
                ranker = Ranker(
                    self.store,
                    model,
                    lambda: self.library.vector_index(model),
                    lambda: self.library.rebuild_vector_index(model),
                )
                self._rankers[model.id] = ranker
            return ranker

    def search(
        self,
        query: Query | str,
        photo_filter: PhotoFilter = PhotoFilter(),
        options: SearchOptions = SearchOptions(),
        requested_model: ModelSpec | None = None,
    ) -> SearchResponse:
        """Photos matching a query (a text, or combined terms), best first or newest first."""
        if isinstance(query, str):
            query = Query.text(query)
        model = self.query_model(requested_model)
        self.check_vector_backend(model)
        timings: dict[str, float] = {}
        clock = Stopwatch(timings)
        vector = self.query_vector(query, model)
        clock.lap("encode")
        text = " ".join(w.term.text for w in query.positive if isinstance(w.term, TextTerm))
        response = self._ranker(model).rank(vector, photo_filter, options, timings, text)
        response.notes = self.query_notes(query, model)
        for stage in SEARCH_STAGES:
            timings.setdefault(stage, 0.0)  # a stage skipped (nothing to search) took no time
        timings["total"] = sum(timings.values())
        return response

    def query_notes(self, query: Query, model: StoredModel) -> list[str]:
        """A note per text term longer than the model's context (the model reads its start)."""
        if not any(isinstance(weighted.term, TextTerm) for weighted in query.terms):
            return []
        encoder = self.text_encoder(model)
        if not isinstance(encoder, ReportsTextOverflow):
            return []
        notes = []
        for weighted in query.terms:
            if isinstance(weighted.term, TextTerm):
                overflow = encoder.text_overflow(weighted.term.text)
                if overflow is not None:
                    notes.append(truncation_note(weighted.term.text, *overflow))
        return notes

    def search_upload(
        self,
        data: bytes,
        name: str,
        photo_filter: PhotoFilter = PhotoFilter(),
        options: SearchOptions = SearchOptions(),
    ) -> SearchResponse:
        """Photos that look like an uploaded picture (`name`: how messages refer to it); its
        decode and encode count in the `encode` timing."""
        started = time.perf_counter()
        vector = self.image_bytes_vector(data, name)
        encode_ms = (time.perf_counter() - started) * 1000
        response = self.search(Query((WeightedTerm(VectorTerm(vector)),)), photo_filter, options)
        response.timings["encode"] = response.timings.get("encode", 0.0) + encode_ms
        response.timings["total"] = response.timings.get("total", 0.0) + encode_ms
        return response

    def query_vector(self, query: Query, model: StoredModel) -> NDArray[np.float32]:
        texts = [w.term.text for w in query.terms if isinstance(w.term, TextTerm)]
        encoded: dict[str, NDArray[np.float32]] = {}
        if texts:
            encoder = self.text_encoder(model)
            vectors = self._text_vectors.vectors(encoder, texts, encoder.encode_texts)
            encoded = dict(zip(texts, vectors, strict=True))

        def vector_of(term: Term) -> NDArray[np.float32]:
            if isinstance(term, TextTerm):
                return encoded[term.text]
            if isinstance(term, ImageFileTerm):
                return self.image_vector(term.path, model)
            if isinstance(term, PhotoTerm):
                return self.photo_vector(term.photo_id, model)
            assert isinstance(term, VectorTerm)
            vector = np.asarray(term.vector, dtype=np.float32).reshape(-1)
            if vector.shape != (model.dim,):
                raise InvalidQueryError(
                    f"A query vector must have {model.dim} numbers for this library's model."
                )
            return vector

        return combine(
            [(w.weight, vector_of(w.term)) for w in query.positive],
            [(w.weight, vector_of(w.term)) for w in query.negative],
        )

    def image_vector(self, path: Path, model: StoredModel | None = None) -> NDArray[np.float32]:
        """The stored vector of an indexed, unchanged file; otherwise the file embedded now."""
        from searchapp.image_input import read_query_image

        model = model or self.query_model()
        absolute = os.path.abspath(path)
        st, data = read_query_image(Path(absolute), self.settings)
        stored = self.store.vectors.stored_vector(
            absolute, st.st_size, st.st_mtime_ns, model.id, st.st_ctime_ns, st.st_ino
        )
        if stored is not None:
            vector: NDArray[np.float32] = stored
            return vector
        return self.image_bytes_vector(data, str(path), model)

    def image_bytes_vector(
        self, data: bytes, name: str, model: StoredModel | None = None
    ) -> NDArray[np.float32]:
        """An uploaded picture embedded now (`name` is how messages refer to it)."""
        from searchapp.image_input import embed_image

        model = model or self.query_model()
        with self._model_lock:
            encoder = self.library.image_encoder(model)
        return embed_image(encoder, data, self.settings, name)

    def photo_vector(self, photo_id: int, model: StoredModel | None = None) -> NDArray[np.float32]:
        model = model or self.query_model()
        row = self.store.photos.photo(photo_id, model.id)
        if row is None or row.embedding_id < 0:
            raise PhotoNotFoundError(f"No indexed photo has the id {photo_id}.")
        _, vectors = self.store.photos.vectors([row.embedding_id], model.dim)
        vector: NDArray[np.float32] = vectors[0]
        return vector
