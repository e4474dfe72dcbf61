"""Near-duplicate groups: the same shot resized, recompressed, slightly cropped, or a burst.

Candidates are pairs of photos whose embeddings lie within `threshold` cosine similarity of each
other, found by a range search over the vector index (exact blocks of rows below the
approximate threshold; the IVF index's range search, checked exactly, above it). A candidate
pair is confirmed only when the two pictures' perceptual hashes (stored at indexing time)
differ in at most `max_hamming` of 64 bits, so two different photos of one scene, close in
meaning, are not merged. Files holding identical content are always one group. Confirmed pairs
are joined into groups (union-find); each group lists its best-quality member first: the
largest resolution, then the largest file, then the path.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from searchapp.file_names import path_bytes_b64, shown_path
from searchapp.perceptual import hamming
from searchapp.store.image_facts import ImageFacts
from searchapp.vectors import VectorIndex

DEFAULT_THRESHOLD = 0.9
DEFAULT_MAX_HAMMING = 12
SCORE_BLOCK = 1 << 25  # scores per block of the exact pair search (128 MiB of float32)
SQ8_SLACK = 0.02  # the approximate index's scores are quantised: search a little wider


@dataclass(frozen=True)
class DuplicatePhoto:
    id: int
    path: str
    width: int
    height: int
    bytes: int

    def as_dict(self) -> dict[str, object]:
        return {
            "id": self.id,
            "path": shown_path(self.path),
            "path_bytes": path_bytes_b64(self.path),
            "width": self.width,
            "height": self.height,
            "bytes": self.bytes,
        }


@dataclass(frozen=True)
class DuplicateGroup:
    photos: tuple[DuplicatePhoto, ...]  # best quality first
    similarity: float  # the lowest confirmed pair similarity in the group (1.0: identical)

    def as_dict(self) -> dict[str, object]:
        return {
            "best": shown_path(self.photos[0].path),
            "similarity": round(self.similarity, 4),
            "photos": [photo.as_dict() for photo in self.photos],
        }


def _live(index: VectorIndex) -> tuple[NDArray[np.int64], NDArray[np.float32]]:
    delta = index.delta
    base = index.base
    dropped = np.zeros(base.count, dtype=bool)
    dropped[base.rows_of(delta.dropped)] = True
    rows = np.flatnonzero(~dropped)
    vectors = np.concatenate([np.asarray(base.vectors[rows]), delta.vectors])
    return np.concatenate([base.ids[rows], delta.ids]), vectors


def similar_pairs(index: VectorIndex, threshold: float) -> Iterator[tuple[int, int, float]]:
    """(id, id, cosine) for every pair of live ids at least `threshold` alike, each pair once."""
    base = index.base
    if base.ann is not None and index.count > 0:
        yield from _approximate_pairs(index, threshold)
        return
    ids, vectors = _live(index)
    block = max(1, SCORE_BLOCK // max(len(ids), 1))
    for start in range(0, len(ids), block):
        scores = vectors[start : start + block] @ vectors.T
        rows, cols = np.nonzero(scores >= threshold)
        for r, c in zip(rows.tolist(), cols.tolist(), strict=True):
            if c > start + r:
                yield int(ids[start + r]), int(ids[c]), float(scores[r, c])


def _approximate_pairs(index: VectorIndex, threshold: float) -> Iterator[tuple[int, int, float]]:
    import faiss

    base = index.base
    delta = index.delta
    dropped = set(delta.dropped.tolist())
    params = faiss.SearchParametersIVF()
    params.nprobe = base.plan.nprobe
    chunk = 4096
    for start in range(0, base.count, chunk):
        block = np.ascontiguousarray(base.vectors[start : start + chunk])
        lims, _, found = base.ann.range_search(block, threshold - SQ8_SLACK, params=params)
        for r in range(len(block)):
            me = int(base.ids[start + r])
            if me in dropped:
                continue
            others = found[lims[r] : lims[r + 1]]
            others = others[(others > me) & ~np.isin(others, delta.dropped)]
            if len(others) == 0:
                continue
            exact = base.vectors[base.rows_of(np.sort(others))] @ block[r]
            for other, score in zip(np.sort(others).tolist(), exact.tolist(), strict=True):
                if score >= threshold:
                    yield me, int(other), float(score)
    if len(delta.ids):
        ids, vectors = _live(index)
        scores = delta.vectors @ vectors.T
        for r, c in zip(*np.nonzero(scores >= threshold), strict=True):
            me, other = int(delta.ids[r]), int(ids[c])
            if me != other and (other not in set(delta.ids.tolist()) or me < other):
                yield min(me, other), max(me, other), float(scores[r, c])


class _Groups:
    """Union-find over embedding ids, remembering each group's lowest pair similarity."""

    def __init__(self) -> None:
        self.parent: dict[int, int] = {}
        self.lowest: dict[int, float] = {}

    def find(self, item: int) -> int:
        self.parent.setdefault(item, item)
        while self.parent[item] != item:
            self.parent[item] = self.parent[self.parent[item]]
            item = self.parent[item]
        return item

    def join(self, a: int, b: int, score: float) -> None:
        ra, rb = self.find(a), self.find(b)
        low = min(score, self.lowest.get(ra, 1.0), self.lowest.get(rb, 1.0))
        if ra != rb:
            self.parent[rb] = ra
        self.lowest[ra] = low

    def groups(self) -> dict[int, list[int]]:
        members: dict[int, list[int]] = {}
        for item in list(self.parent):
            members.setdefault(self.find(item), []).append(item)
        return members


def group_duplicates(
    pairs: list[tuple[int, int, float]],
    facts: dict[int, ImageFacts],
    max_hamming: int,
    identical: list[int],
) -> list[DuplicateGroup]:
    """Groups of confirmed pairs and of identical files, best member first, largest first."""
    groups = _Groups()
    for embedding_id in identical:
        groups.find(embedding_id)
    for a, b, score in pairs:
        fa, fb = facts.get(a), facts.get(b)
        if fa is None or fb is None or fa.phash is None or fb.phash is None:
            continue
        if hamming(fa.phash, fb.phash) <= max_hamming:
            groups.join(a, b, score)
    result: list[DuplicateGroup] = []
    for root, members in groups.groups().items():
        rows = [
            (facts[m].width * facts[m].height, file.size, file.path, facts[m], file)
            for m in members
            if m in facts
            for file in facts[m].files
        ]
        if len(rows) < 2:
            continue
        rows.sort(key=lambda p: (-p[0], -p[1], p[2]))
        result.append(
            DuplicateGroup(
                tuple(DuplicatePhoto(f.id, f.path, i.width, i.height, f.size) for *_, i, f in rows),
                groups.lowest.get(root, 1.0),
            )
        )
    result.sort(key=lambda g: (-len(g.photos), g.photos[0].path))
    return result


def as_json(groups: list[DuplicateGroup]) -> list[dict[str, Any]]:
    return [group.as_dict() for group in groups]
