"""The base of a vector index: every vector as it was at build time, in one snapshot directory.

A snapshot holds `ids.npy` (ascending `embeddings.id`), `vectors.f32` (the float32 rows in the
same order, memory-mapped: a process touches only the pages it reads, so opening one costs
milliseconds at any size) and, for the approximate kind, `ann.faiss`: an IVF index with 8-bit
scalar quantisation (about a quarter of the raw size, memory-mapped too) whose ids are the
embedding ids. Approximate candidates are re-ranked with the exact rows, so every score shown is
the exact cosine similarity; small candidate sets are ranked exactly.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

log = logging.getLogger(__name__)
EXACT = "exact"
IVF_SQ8 = "ivf_sq8"
IDS_FILE = "ids.npy"
VECTORS_FILE = "vectors.f32"
ANN_FILE = "ann.faiss"
TRAIN_PER_LIST = 40  # faiss asks for at least 39 training points per list
EXACT_CHUNK = 131_072
BuildProgress = Callable[[str, int, int], None]  # (stage, done, total)


@dataclass(frozen=True)
class IndexPlan:
    """Which index to build, with its parameters (recorded in the manifest)."""

    kind: str = EXACT
    nlist: int = 0
    nprobe: int = 0

    def as_dict(self) -> dict[str, Any]:
        if self.kind == EXACT:
            return {}
        return {"nlist": self.nlist, "nprobe": self.nprobe, "quantizer": "SQ8", "rerank": "exact"}


MIN_SCANNED = 16_384
"""A probe reads the lists of at least this many vectors (on average): at 100k photos 1/16 of
the lists held ~6k vectors and gave recall@10 0.93 on the structured set."""


def plan_for(count: int, ann_min_photos: int) -> IndexPlan:
    """Exact below `ann_min_photos`; past it IVF-SQ8 with about 4·√n lists (a power of two)
    and a probe of 1/16 of them, or of enough lists to read `MIN_SCANNED` vectors, which
    reached recall@10 ≥ 0.95 on the structured benchmark set."""
    if count < max(ann_min_photos, 1):
        return IndexPlan()
    nlist = 2 ** max(4, round(math.log2(4 * math.sqrt(count))))
    nlist = min(nlist, max(16, count // TRAIN_PER_LIST))
    nprobe = max(8, nlist // 16, math.ceil(MIN_SCANNED * nlist / count))
    return IndexPlan(IVF_SQ8, nlist, min(nprobe, nlist))


def _top_k(scores: NDArray[np.float32], ids: NDArray[np.int64], k: int) -> tuple[Any, Any]:
    """Per row of `scores` (q × n), the k best (score desc, then id asc), as (scores, ids)."""
    k = min(k, scores.shape[1])
    if k < scores.shape[1]:
        part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    else:
        part = np.broadcast_to(np.arange(scores.shape[1]), scores.shape)
    picked = np.take_along_axis(scores, part, axis=1)
    picked_ids = ids[part]
    order = np.lexsort((picked_ids, -picked), axis=1)
    return np.take_along_axis(picked, order, axis=1), np.take_along_axis(picked_ids, order, axis=1)


def merge_top_k(
    parts: Iterable[tuple[NDArray[np.float32], NDArray[np.int64]]], k: int, n_queries: int
) -> tuple[NDArray[np.float32], NDArray[np.int64]]:
    """The k best of several per-query result sets of equal row count."""
    kept = [(s, i) for s, i in parts if s.shape[1] > 0]
    if not kept:
        return np.zeros((n_queries, 0), np.float32), np.zeros((n_queries, 0), np.int64)
    scores = np.concatenate([s for s, _ in kept], axis=1)
    ids = np.concatenate([i for _, i in kept], axis=1)
    k = min(k, scores.shape[1])
    order = np.lexsort((ids, -scores), axis=1)[:, :k]
    return np.take_along_axis(scores, order, axis=1), np.take_along_axis(ids, order, axis=1)


class BaseVectors:
    def __init__(
        self,
        ids: NDArray[np.int64],
        vectors: NDArray[np.float32],
        plan: IndexPlan,
        ann: Any = None,
        name: str = "",
    ) -> None:
        self.ids = ids
        self.vectors = vectors
        self.plan = plan
        self.ann = ann
        self.name = name
        self.path = Path()  # its snapshot directory, once written

    @property
    def count(self) -> int:
        return len(self.ids)

    def rows_of(self, ids: NDArray[np.int64]) -> NDArray[np.int64]:
        """Rows of the given ids that the base holds (ids it lacks are left out)."""
        if len(self.ids) == 0 or len(ids) == 0:
            return np.zeros(0, np.int64)
        rows = np.minimum(np.searchsorted(self.ids, ids), len(self.ids) - 1)
        held: NDArray[np.int64] = rows[self.ids[rows] == ids].astype(np.int64)
        return held

    def exact(
        self, queries: NDArray[np.float32], k: int, rows: NDArray[np.int64] | None
    ) -> tuple[NDArray[np.float32], NDArray[np.int64]]:
        """Exact top-k over `rows` (every row when None), chunk by chunk."""
        total = self.count if rows is None else len(rows)
        parts = []
        for start in range(0, total, EXACT_CHUNK):
            if rows is None:
                block = np.asarray(self.vectors[start : start + EXACT_CHUNK])
                block_ids = self.ids[start : start + EXACT_CHUNK]
            else:
                chosen = rows[start : start + EXACT_CHUNK]
                block, block_ids = self.vectors[chosen], self.ids[chosen]
            parts.append(_top_k(queries @ block.T, block_ids, k))
        return merge_top_k(parts, k, len(queries))

    def rerank(
        self, queries: NDArray[np.float32], candidates: NDArray[np.int64], k: int
    ) -> tuple[NDArray[np.float32], NDArray[np.int64]]:
        """Exact scores of each query's candidate ids (-1 = none), best k first; rows with
        fewer valid candidates are padded with id -1."""
        out_scores = np.full((len(queries), k), -np.inf, np.float32)
        out_ids = np.full((len(queries), k), -1, np.int64)
        for q, row in enumerate(candidates):
            valid = np.unique(row[row >= 0])
            if len(valid) == 0:
                continue
            rows = self.rows_of(valid)
            scores, ids = _top_k((self.vectors[rows] @ queries[q])[None, :], self.ids[rows], k)
            out_scores[q, : scores.shape[1]] = scores[0]
            out_ids[q, : ids.shape[1]] = ids[0]
        return out_scores, out_ids

    def ann_candidates(
        self, queries: NDArray[np.float32], n: int, nprobe: int, selector: Any
    ) -> NDArray[np.int64]:
        import faiss

        params = faiss.SearchParametersIVF()
        params.nprobe = min(nprobe, self.plan.nlist)
        if selector is not None:
            params.sel = selector
        _, ids = self.ann.search(queries, n, params=params)
        found: NDArray[np.int64] = np.asarray(ids, dtype=np.int64)
        return found

    # -- disk --------------------------------------------------------------------------------

    @classmethod
    def load(cls, directory: Path, plan: IndexPlan, dim: int) -> BaseVectors:
        """Memory-maps the rows and the approximate index's lists (opening costs milliseconds
        at any size: a query reads only the pages of the lists it probes)."""
        ids = np.load(directory / IDS_FILE)
        vectors: NDArray[np.float32]
        if len(ids):
            vectors = np.memmap(directory / VECTORS_FILE, np.float32, "r", shape=(len(ids), dim))
        else:
            vectors = np.zeros((0, dim), np.float32)
        ann = None
        if plan.kind != EXACT:
            import faiss

            ann = faiss.read_index(str(directory / ANN_FILE), faiss.IO_FLAG_MMAP)
            if int(ann.ntotal) != len(ids):
                raise ValueError(f"{ANN_FILE} holds {ann.ntotal} vectors, ids.npy {len(ids)}")
        base = cls(ids, vectors, plan, ann, directory.name)
        base.path = directory
        return base


def write_rows(
    directory: Path, pages: Iterable[tuple[NDArray[np.int64], NDArray[np.float32]]], limit: int
) -> tuple[NDArray[np.int64], int]:
    """Append pages of (ids, rows) to `directory/vectors.f32`, at most `limit` rows; return the
    ids and the row count. Memory stays at one page whatever the library size."""
    written: list[NDArray[np.int64]] = []
    count = 0
    with open(directory / VECTORS_FILE, "wb") as fh:
        for ids, vectors in pages:
            take = min(len(ids), limit - count)
            if take <= 0:
                break
            fh.write(np.ascontiguousarray(vectors[:take], dtype=np.float32).tobytes())
            written.append(ids[:take])
            count += take
        fh.flush()
        os.fsync(fh.fileno())
    all_ids = np.concatenate(written) if written else np.zeros(0, np.int64)
    np.save(directory / IDS_FILE, all_ids)
    return all_ids, count


def train_ann(
    vectors: NDArray[np.float32],
    ids: NDArray[np.int64],
    plan: IndexPlan,
    progress: BuildProgress | None = None,
) -> Any:
    """An IVF-SQ8 inner-product index over `vectors` (see `ivf_training`)."""
    from searchapp.ivf_training import train_ivf_sq8

    return train_ivf_sq8(vectors, ids, plan.nlist, plan.nlist * TRAIN_PER_LIST, progress)


def save_ann(index: Any, directory: Path) -> None:
    import faiss

    faiss.write_index(index, str(directory / ANN_FILE))
