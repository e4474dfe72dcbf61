"""The search service: text → image and image → image over the library's vector index."""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from searchapp.errors import DamagedLibraryError, InvalidImageError
from searchapp.hybrid import reciprocal_rank_fusion
from searchapp.library import Library
from searchapp.models.base import ModelSpec

log = logging.getLogger(__name__)
SCORE_TOLERANCE = 1e-3
HYBRID_CANDIDATES = 100


def _plausible(scores: NDArray[np.float32]) -> bool:
    return bool(np.all(np.isfinite(scores)) and np.all(np.abs(scores) <= 1.0 + SCORE_TOLERANCE))


@dataclass(frozen=True)
class SearchResult:
    path: str
    score: float
    captured_at: str | None
    width: int
    height: int
    camera: str | None

    def as_dict(self) -> dict[str, object]:
        return {
            "path": self.path,
            "score": round(self.score, 6),
            "captured_at": self.captured_at,
            "width": self.width,
            "height": self.height,
            "camera": self.camera,
        }


class SearchService:
    def __init__(self, library: Library, requested_model: ModelSpec | None = None) -> None:
        self.library = library
        self.model = library.query_model(requested_model)

    def _allowed(self, tags: Sequence[str]) -> NDArray[np.int64] | None:
        if not tags:
            return None
        return self.library.store.tags.embeddings_tagged(tags, self.model.id)

    def _clip_pairs(
        self,
        query: NDArray[np.float32],
        top_k: int,
        min_score: float | None,
        allowed: NDArray[np.int64] | None,
    ) -> list[tuple[int, float]]:
        scores, ids = self._search(query, top_k, allowed)
        pairs = [(int(i), float(s)) for i, s in zip(ids[0], scores[0], strict=True) if i >= 0]
        if min_score is not None:
            pairs = [(i, s) for i, s in pairs if s >= min_score]
        return pairs

    def _results(self, pairs: Sequence[tuple[int, float]], top_k: int) -> list[SearchResult]:
        hits = self.library.store.hits([i for i, _ in pairs])
        results = [
            SearchResult(hit.path, score, hit.captured_at, hit.width, hit.height, hit.camera)
            for embedding_id, score in pairs
            for hit in hits.get(embedding_id, [])
        ]
        return results[:top_k]

    def _ranked(
        self,
        query: NDArray[np.float32],
        top_k: int,
        min_score: float | None,
        tags: Sequence[str] = (),
    ) -> list[SearchResult]:
        """Best first; an image stored under several paths yields one result per path.

        With `tags`, only images that carry every one of them (in any vocabulary) compete."""
        allowed = self._allowed(tags)
        if allowed is not None and len(allowed) == 0:
            return []
        return self._results(self._clip_pairs(query, top_k, min_score, allowed), top_k)

    def _hybrid(
        self,
        text: str,
        query: NDArray[np.float32],
        top_k: int,
        min_score: float | None,
        tags: Sequence[str],
    ) -> list[SearchResult]:
        """CLIP's ranking and the captions' full-text ranking merged by reciprocal rank fusion
        (see searchapp.hybrid); each result's score is its fused score."""
        allowed = self._allowed(tags)
        if allowed is not None and len(allowed) == 0:
            return []
        depth = max(top_k, HYBRID_CANDIDATES)
        clip = [i for i, _ in self._clip_pairs(query, depth, min_score, allowed)]
        words = self.library.store.captions.matches(text, self.model.id, depth)
        if allowed is not None:
            permitted = set(allowed.tolist())
            words = [i for i in words if i in permitted]
        return self._results(reciprocal_rank_fusion([clip, words]), top_k)

    def _search(
        self, query: NDArray[np.float32], top_k: int, allowed: NDArray[np.int64] | None
    ) -> tuple[NDArray[np.float32], NDArray[np.int64]]:
        """Cosine scores of unit vectors lie in [-1, 1]: any other score means a damaged index,
        which is rebuilt from the store; if the stored vectors give them too, they are damaged."""
        scores, ids = self.library.vector_index(self.model).search(
            query.reshape(1, -1), top_k, allowed
        )
        if not _plausible(scores):
            log.warning("the vector index gave impossible scores; rebuilding it from the store")
            index = self.library.rebuild_vector_index(self.model)
            scores, ids = index.search(query.reshape(1, -1), top_k, allowed)
            if not _plausible(scores):
                raise DamagedLibraryError(
                    "The vectors stored in this library are damaged (similarity scores outside "
                    "[-1, 1]). Run `searchapp doctor --repair` to re-embed the photos."
                )
        return np.clip(scores, -1.0, 1.0), ids

    def text(
        self,
        query: str,
        top_k: int = 10,
        min_score: float | None = None,
        tags: Sequence[str] = (),
        hybrid: bool = False,
    ) -> list[SearchResult]:
        """With `hybrid`, photos whose caption shares a word with the query rank higher."""
        encoder = self.library.text_encoder(self.model)
        vector = encoder.encode_texts([query])[0]
        if hybrid:
            return self._hybrid(query, vector, top_k, min_score, tags)
        return self._ranked(vector, top_k, min_score, tags)

    def image_vector(self, path: Path) -> NDArray[np.float32]:
        """The stored vector of an indexed, unchanged file; otherwise embed the file now."""
        from searchapp.decode import DecodeError, decode_image

        absolute = os.path.abspath(path)
        try:
            st = os.stat(absolute)
            stored = self.library.store.stored_vector(
                absolute, st.st_size, st.st_mtime_ns, self.model.id, st.st_ctime_ns, st.st_ino
            )
            if stored is not None:
                return stored
            data = Path(absolute).read_bytes()
        except OSError as exc:
            raise InvalidImageError(f"Cannot read {path}: {exc.strerror or exc}") from None
        embedder = self.library.image_encoder(self.model)
        settings = self.library.settings
        draft = embedder.input_size if settings.fast_jpeg_decode else None
        try:
            decoded = decode_image(data, draft, settings.max_image_megapixels)
        except DecodeError as exc:
            raise InvalidImageError(f"Cannot use {path} as a query image: {exc}") from None
        vectors = embedder.encode_images([embedder.preprocess(decoded.image)])
        query: NDArray[np.float32] = vectors[0]
        return query

    def similar(
        self,
        path: Path,
        top_k: int = 10,
        min_score: float | None = None,
        tags: Sequence[str] = (),
    ) -> list[SearchResult]:
        return self._ranked(self.image_vector(path), top_k, min_score, tags)
