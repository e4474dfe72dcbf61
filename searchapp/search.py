"""Ranking: a query vector against the library's vector index, with filters, a relevance
cutoff (fixed or `auto`), sort order and pagination. Every result is a photo (a file)."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from numpy.typing import NDArray

from searchapp.cutoff import auto_cutoff
from searchapp.errors import DamagedLibraryError, InvalidQueryError
from searchapp.file_names import path_bytes_b64, shown_path
from searchapp.hybrid import reciprocal_rank_fusion
from searchapp.store.photo_queries import PhotoFilter, PhotoRow

if TYPE_CHECKING:
    from searchapp.store import Store, StoredModel
    from searchapp.vector_backend import VectorSearcher

log = logging.getLogger(__name__)
SortOrder = Literal["score", "date"]
SCORE_TOLERANCE = 1e-3
HYBRID_CANDIDATES = 100
MAX_TOP_K = 1000
MAX_OFFSET = 100_000
EXACT_CANDIDATES = 4096
"""A filter admitting at most this many vectors is searched exactly over exactly those."""
DATE_SORT_POOL = 1000
"""`sort=date` orders the best this-many results by score (above the cutoff) by capture time."""
AUTO_POOL = 256
BACKGROUND_SAMPLE = 2048


@dataclass(frozen=True)
class SearchOptions:
    top_k: int = 10
    offset: int = 0
    min_score: float | Literal["auto"] | None = None
    sort: SortOrder = "score"
    hybrid: bool = False
    """Merge the ranking with the captions' full-text ranking (reciprocal rank fusion)."""

    def __post_init__(self) -> None:
        if not 1 <= self.top_k <= MAX_TOP_K:
            raise InvalidQueryError(f"top_k must be between 1 and {MAX_TOP_K}, not {self.top_k}.")
        if not 0 <= self.offset <= MAX_OFFSET:
            raise InvalidQueryError(
                f"offset must be between 0 and {MAX_OFFSET}, not {self.offset}."
            )
        if self.sort not in ("score", "date"):
            raise InvalidQueryError(f"sort must be 'score' or 'date', not {self.sort!r}.")
        score = self.min_score
        if isinstance(score, str):
            if score != "auto":
                raise InvalidQueryError(f"min_score must be a number or 'auto', not {score!r}.")
        elif score is not None and not (math.isfinite(score) and -1.0 <= score <= 1.0):
            raise InvalidQueryError(
                f"min_score is a cosine similarity between -1 and 1 (or 'auto'), not {score}."
            )


@dataclass(frozen=True)
class PhotoHit:
    id: int
    score: float
    path: str
    taken_at: str | None
    captured_at: str | None
    width: int
    height: int
    camera: str | None

    def as_dict(self) -> dict[str, object]:
        return {
            "id": self.id,
            "score": round(self.score, 6),
            "path": shown_path(self.path),
            "path_bytes": path_bytes_b64(self.path),
            "taken_at": self.taken_at,
            "captured_at": self.captured_at,
            "width": self.width,
            "height": self.height,
            "camera": self.camera,
        }


@dataclass
class SearchResponse:
    results: list[PhotoHit]
    cutoff: float | None = None
    """The score results needed (the fixed `min_score`, or what `auto` chose)."""
    candidates: int | None = None
    """How many distinct images the filters admitted (None without filters)."""
    timings: dict[str, float] = field(default_factory=dict)
    """Milliseconds per stage: encode, filter, vector_search, metadata, total."""
    notes: list[str] = field(default_factory=list)
    """What the user should know about how the query was read (a text cut to the model's
    context, say)."""

    def as_dict(self) -> dict[str, object]:
        return {
            "results": [hit.as_dict() for hit in self.results],
            "cutoff": None if self.cutoff is None else round(self.cutoff, 6),
            "candidates": self.candidates,
            "timings": {stage: round(ms, 3) for stage, ms in self.timings.items()},
            "notes": self.notes,
        }


class Stopwatch:
    def __init__(self, timings: dict[str, float]) -> None:
        self.timings = timings
        self._at = time.perf_counter()

    def lap(self, stage: str) -> None:
        now = time.perf_counter()
        self.timings[stage] = self.timings.get(stage, 0.0) + (now - self._at) * 1000
        self._at = now


def _plausible(scores: NDArray[np.float32]) -> bool:
    return bool(np.all(np.isfinite(scores)) and np.all(np.abs(scores) <= 1.0 + SCORE_TOLERANCE))


def hit_of(row: PhotoRow, score: float) -> PhotoHit:
    return PhotoHit(
        row.id, score, row.path, row.taken_at, row.captured_at, row.width, row.height, row.camera
    )


class Ranker:
    """Ranks one model's vectors for a query vector; `index` gives the current vector index."""

    def __init__(
        self,
        store: Store,
        model: StoredModel,
        index: Callable[[], VectorSearcher],
        rebuild: Callable[[], VectorSearcher],
    ) -> None:
        self.store = store
        self.model = model
        self._index = index
        self._rebuild = rebuild
        self._background: tuple[int, NDArray[np.float32]] | None = None

    def _library_sample(self, index: VectorSearcher) -> NDArray[np.float32]:
        """Vectors of a random sample of the library, kept until the library grows by a tenth."""
        if self._background is not None and index.count <= self._background[0] * 1.1:
            return self._background[1]
        ids = index.ids()
        if len(ids) > BACKGROUND_SAMPLE:
            ids = np.random.default_rng(0).choice(ids, BACKGROUND_SAMPLE, replace=False)
        _, vectors = self.store.photos.vectors(ids.tolist(), self.model.dim)
        self._background = (index.count, vectors)
        return vectors

    def _nearest(
        self,
        index: VectorSearcher,
        query: NDArray[np.float32],
        k: int,
        allowed: NDArray[np.int64] | None,
        exact: tuple[NDArray[np.int64], NDArray[np.float32]] | None,
    ) -> tuple[NDArray[np.float32], NDArray[np.int64]]:
        if exact is not None:
            ids, vectors = exact
            scores = vectors @ query
            k = min(k, len(ids))
            best = np.argpartition(-scores, k - 1)[:k] if k < len(ids) else np.arange(len(ids))
            best = best[np.lexsort((ids[best], -scores[best]))]
            return scores[best].astype(np.float32), ids[best]
        scores, ids = index.search(query.reshape(1, -1), k, allowed)
        if not _plausible(scores):
            log.warning("the vector index gave impossible scores; rebuilding it from the store")
            scores, ids = self._rebuild().search(query.reshape(1, -1), k, allowed)
            if not _plausible(scores):
                raise DamagedLibraryError(
                    "The vectors stored in this library are damaged (similarity scores outside "
                    "[-1, 1]). Run `searchapp doctor --repair` to re-embed the photos."
                )
        keep = ids[0] >= 0
        return np.clip(scores[0][keep], -1.0, 1.0), ids[0][keep]

    def rank(
        self,
        query: NDArray[np.float32],
        photo_filter: PhotoFilter,
        options: SearchOptions,
        timings: dict[str, float],
        text: str | None = None,
    ) -> SearchResponse:
        """With `options.hybrid` and a `text`, photos whose caption matches the text rise:
        CLIP's ranking and the captions' full-text ranking merged by reciprocal rank fusion,
        each result's score then being its fused score (no cutoff applies)."""
        clock = Stopwatch(timings)
        index = self._index()
        clock.lap("index")
        allowed: NDArray[np.int64] | None = None
        exact = None
        if not photo_filter.is_empty:
            allowed = self.store.photos.candidates(photo_filter, self.model.id)
            if len(allowed) <= EXACT_CANDIDATES:
                exact = self.store.photos.vectors(allowed.tolist(), self.model.dim)
            clock.lap("filter")
            if len(allowed) == 0:
                return SearchResponse([], None, 0, timings)
        wanted = options.offset + options.top_k
        pool = wanted
        if options.min_score == "auto":
            pool = max(pool, AUTO_POOL)
        if options.sort == "date":
            pool = max(pool, DATE_SORT_POOL)
        available = len(allowed) if allowed is not None else index.count
        pool = min(pool, available)
        if pool == 0:
            return SearchResponse([], None, None if allowed is None else 0, timings)
        hybrid = options.hybrid and bool(text and text.strip())
        if hybrid:
            pool = min(available, max(pool, HYBRID_CANDIDATES))
        while True:
            nearest, ids = self._nearest(index, query, pool, allowed, exact)
            scores: NDArray[np.floating[Any]] = nearest
            if hybrid:
                assert text is not None
                scores, ids = self._fused(ids, text, pool, allowed)
            clock.lap("vector_search")
            rows = self.store.photos.photos_of(ids.tolist(), self.model.id, photo_filter)
            clock.lap("metadata")
            hits = [
                hit_of(row, float(s))
                for i, s in zip(ids, scores, strict=True)
                for row in rows.get(int(i), [])
            ]
            if len(hits) >= wanted or pool >= available or len(ids) < pool:
                break
            pool = min(available, pool * 2)  # vectors without an admitted photo (just removed)
        cutoff = None if hybrid else self._cutoff(index, query, nearest, options, exact)
        if cutoff is not None:
            hits = [hit for hit in hits if hit.score >= cutoff]
        hits.sort(key=lambda hit: (-hit.score, hit.path))
        if options.sort == "date":
            hits = hits[:DATE_SORT_POOL]
            hits.sort(key=lambda hit: hit.path)
            hits.sort(key=lambda hit: hit.taken_at or "", reverse=True)
        page = hits[options.offset : options.offset + options.top_k]
        clock.lap("rank")
        return SearchResponse(page, cutoff, None if allowed is None else len(allowed), timings)

    def _fused(
        self, ids: NDArray[np.int64], text: str, depth: int, allowed: NDArray[np.int64] | None
    ) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
        words = self.store.captions.matches(text, self.model.id, depth)
        if allowed is not None:
            permitted = set(allowed.tolist())
            words = [i for i in words if i in permitted]
        fused = reciprocal_rank_fusion([ids.tolist(), words])
        return (
            np.asarray([score for _, score in fused], dtype=np.float64),
            np.asarray([item for item, _ in fused], dtype=np.int64),
        )

    def _cutoff(
        self,
        index: VectorSearcher,
        query: NDArray[np.float32],
        top_scores: NDArray[np.float32],
        options: SearchOptions,
        exact: tuple[NDArray[np.int64], NDArray[np.float32]] | None,
    ) -> float | None:
        if options.min_score != "auto":
            return options.min_score
        sample = exact[1] if exact is not None else self._library_sample(index)
        return auto_cutoff(top_scores, (sample @ query).astype(np.float32))
