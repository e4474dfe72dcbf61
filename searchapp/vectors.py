"""The vector index: derived from the store, persisted beside it, kept current cheaply.

Its ids are `embeddings.id`, so a hit always maps back to the right image through SQLite. An
index is a *base* built from the store at one moment (exact rows, plus an approximate IVF-SQ8
index past `SEARCHAPP_ANN_MIN_PHOTOS`; see `vector_base`) and a small *delta*: rows added since
(searched exactly beside the base, so a new photo is found at once) and base ids dropped since
(removed or changed photos, never returned whatever the index kind). The delta follows the
store through its counters and removal log (`store.vector_state`); the base is rebuilt when the
delta grows large or the library crosses the threshold (`rebuild_reason`).

`search(queries, k, allowed)` is the one search call for every kind: with `allowed`, only those
ids compete; a small allowed set is ranked exactly (the result equals a brute-force filter and
rank), a large one through the approximate index with a selector and a probe widened for the
filter. It returns min(k, live allowed ids) results per query, never a removed id, never -1.
"""

from __future__ import annotations

import logging
import math
import threading
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from searchapp.vector_base import EXACT, BaseVectors, IndexPlan, merge_top_k

if TYPE_CHECKING:
    from searchapp.store import Store, StoredModel

log = logging.getLogger(__name__)
EXACT_SUBSET_LIMIT = 32_768  # allowed sets up to this many base rows are ranked exactly
RERANK_FACTOR = 4
MIN_CANDIDATES = 40


@dataclass(frozen=True)
class Manifest:
    model_key: str
    generation: int
    count: int
    dim: int
    max_id: int = 0  # the highest live id held: rows above it are new
    removed: int = -1  # the store's `vectors_removed` when last followed; -1: unknown
    removal_seq: int = -1  # the last `vector_removals.seq` followed; -1 (older manifests): unknown
    kind: str = EXACT
    params: dict[str, Any] | None = None
    base: str = ""  # the snapshot directory of the base
    base_count: int = 0
    base_checksum: int = 0  # crc32 of the base's ids
    built_at: float = 0.0
    build_seconds: float = 0.0
    delta: str = ""  # the file holding the delta, "" when empty
    library_id: str = ""  # the store's random id; "" (older manifests): unknown, rebuild
    revision: str = ""  # the store's revision token when last followed
    checksums: dict[str, str] | None = None  # SHA-256 of each file (see `vector_file`)


@dataclass(frozen=True)
class Delta:
    """Rows added since the base was built, and base ids no longer live. Replaced whole on
    change, so a search reads one consistent delta without a lock."""

    ids: NDArray[np.int64]
    vectors: NDArray[np.float32]
    dropped: NDArray[np.int64]  # sorted base ids

    @classmethod
    def empty(cls, dim: int) -> Delta:
        return cls(np.zeros(0, np.int64), np.zeros((0, dim), np.float32), np.zeros(0, np.int64))


class VectorIndex:
    """Cosine similarity over unit vectors: an exact or approximate base plus a delta."""

    def __init__(self, base: BaseVectors, manifest: Manifest, delta: Delta | None = None) -> None:
        self.base = base
        self.manifest = manifest
        self.delta = delta or Delta.empty(manifest.dim)
        self._lock = threading.Lock()  # serialises writers of the delta

    @property
    def kind(self) -> str:
        return self.base.plan.kind

    @property
    def revision(self) -> str:
        return self.manifest.revision

    @property
    def count(self) -> int:
        return self.base.count - len(self.delta.dropped) + len(self.delta.ids)

    def _live_base_mask(self, delta: Delta) -> NDArray[np.bool_]:
        mask = np.ones(self.base.count, dtype=bool)
        mask[self.base.rows_of(delta.dropped)] = False
        return mask

    def ids(self) -> NDArray[np.int64]:
        """Every live id the index holds (`embeddings.id`): base ids, then added ones."""
        delta = self.delta
        return np.concatenate([self.base.ids[self._live_base_mask(delta)], delta.ids])

    def max_live_id(self) -> int:
        delta = self.delta
        live = self.base.ids[self._live_base_mask(delta)]
        highest = int(live[-1]) if len(live) else 0
        return max(highest, int(delta.ids.max()) if len(delta.ids) else 0)

    def add(self, ids: NDArray[np.int64], vectors: NDArray[np.float32]) -> None:
        """Add or replace rows (an id already held gets the new vector)."""
        if len(ids) == 0:
            return
        with self._lock:
            self.delta = self._without(self.delta, ids)
            delta = self.delta
            added = np.ascontiguousarray(vectors, dtype=np.float32)
            self.delta = replace(
                delta,
                ids=np.concatenate([delta.ids, ids.astype(np.int64)]),
                vectors=np.concatenate([delta.vectors, added]),
            )

    def drop(self, ids: NDArray[np.int64]) -> None:
        """Ids that must never be returned again (removed, or changed and read again)."""
        if len(ids) == 0:
            return
        with self._lock:
            self.delta = self._without(self.delta, ids)

    def _without(self, delta: Delta, ids: NDArray[np.int64]) -> Delta:
        in_base = self.base.ids[self.base.rows_of(np.unique(ids))]
        keep = ~np.isin(delta.ids, ids)
        return Delta(delta.ids[keep], delta.vectors[keep], np.union1d(delta.dropped, in_base))

    # -- search ------------------------------------------------------------------------------

    def search(
        self, queries: NDArray[np.float32], k: int, allowed: NDArray[np.int64] | None = None
    ) -> tuple[NDArray[np.float32], NDArray[np.int64]]:
        """The best min(k, live allowed) ids per query, best first, with exact cosine scores;
        only among `allowed` if given."""
        queries = np.ascontiguousarray(np.atleast_2d(queries), dtype=np.float32)
        delta = self.delta
        live = self._live_base_mask(delta)
        if allowed is None:
            base_rows = None if live.all() else np.flatnonzero(live)
            tail = np.arange(len(delta.ids))
        else:
            wanted = _sorted_unique(allowed)
            base_rows = self.base.rows_of(wanted)
            base_rows = base_rows[live[base_rows]]
            tail = np.flatnonzero(_member(delta.ids, wanted))
        in_base = self.base.count if base_rows is None else len(base_rows)
        k = min(k, in_base + len(tail))
        if k <= 0:
            return np.zeros((len(queries), 0), np.float32), np.zeros((len(queries), 0), np.int64)
        parts = [self._search_base(queries, min(k, in_base), base_rows, allowed is not None)]
        if len(tail):
            scores = queries @ delta.vectors[tail].T
            order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
            parts.append((np.take_along_axis(scores, order, axis=1), delta.ids[tail][order]))
        return merge_top_k(parts, k, len(queries))

    def _search_base(
        self,
        queries: NDArray[np.float32],
        k: int,
        rows: NDArray[np.int64] | None,
        filtered: bool,
    ) -> tuple[NDArray[np.float32], NDArray[np.int64]]:
        base = self.base
        if k <= 0:
            return np.zeros((len(queries), 0), np.float32), np.zeros((len(queries), 0), np.int64)
        in_base = base.count if rows is None else len(rows)
        if base.ann is None or (filtered and in_base <= EXACT_SUBSET_LIMIT):
            return base.exact(queries, k, rows)
        selector, _bitmap = _selector(base, rows)  # the bitmap must outlive the searches
        fraction = in_base / max(base.count, 1)
        nprobe = math.ceil(base.plan.nprobe / math.sqrt(fraction))
        wanted = max(RERANK_FACTOR * k, MIN_CANDIDATES)
        for probe in (nprobe, base.plan.nlist):
            candidates = base.ann_candidates(queries, wanted, probe, selector)
            scores, ids = base.rerank(queries, candidates, k)
            if (ids >= 0).all():
                return scores, ids
            log.debug("approximate search found fewer than %d with nprobe %d", k, probe)
        return base.exact(queries, k, rows)  # cannot happen with every list probed; stay exact


def _sorted_unique(ids: NDArray[np.int64]) -> NDArray[np.int64]:
    """`ids` ascending without repeats; a filter's candidates already are (checked in O(n):
    `np.unique` took 0.3 s on 200k ids on two busy cores)."""
    ids = np.asarray(ids, dtype=np.int64)
    if len(ids) < 2 or bool(np.all(ids[1:] > ids[:-1])):
        return ids
    return np.unique(ids)


def _member(ids: NDArray[np.int64], sorted_ids: NDArray[np.int64]) -> NDArray[np.bool_]:
    """Which of `ids` are in the ascending `sorted_ids`."""
    if len(ids) == 0 or len(sorted_ids) == 0:
        return np.zeros(len(ids), dtype=bool)
    at = np.minimum(np.searchsorted(sorted_ids, ids), len(sorted_ids) - 1)
    found: NDArray[np.bool_] = sorted_ids[at] == ids
    return found


def _selector(base: BaseVectors, rows: NDArray[np.int64] | None) -> tuple[Any, Any]:
    """A faiss bitmap selector of the base ids at `rows` (None: all, no selector)."""
    if rows is None:
        return None, None
    import faiss

    ids = base.ids[rows]
    bits = np.zeros(int(base.ids[-1]) + 1, dtype=bool)
    bits[ids] = True
    bitmap = np.packbits(bits, bitorder="little")
    return faiss.IDSelectorBitmap(len(bits), faiss.swig_ptr(bitmap)), bitmap


def rebuild_reason(index: VectorIndex, wanted: IndexPlan) -> str | None:
    """Why the base should be built again, or None: the library crossed the threshold (either
    way), or the delta grew past a quarter of the base."""
    if wanted.kind != index.kind:
        return f"the library has {index.count} photos: {wanted.kind} index wanted"
    delta = index.delta
    limit = max(5_000, index.base.count // 4)
    if len(delta.ids) > limit or len(delta.dropped) > limit:
        return f"{len(delta.ids)} rows added and {len(delta.dropped)} dropped since the build"
    return None


def refresh(index: VectorIndex, store: Store, model: StoredModel) -> VectorIndex | None:
    """`index` brought up to date in place: rows removed or changed since are dropped, rows
    added (or changed) are added to its delta. None when the model differs or the store is not
    the one it followed (another library, a restored backup): rebuild then. A None leaves
    `index` half-followed: the caller drops it."""
    from searchapp.store.vector_state import vector_changes, vector_state

    held = index.manifest
    if held.model_key != model.identity.key or held.dim != model.dim or held.removal_seq < 0:
        return None
    if not held.revision:
        return None
    state = vector_state(store.engine)
    if state.revision == held.revision and state.generation == held.generation:
        return index
    if state.generation <= held.generation or state.removal_seq < held.removal_seq:
        return None  # not the store this index followed (a restored backup, another library)
    changes = vector_changes(store.engine, model.id, model.dim, held.max_id, held.removal_seq)
    index.drop(changes.dropped)
    index.add(changes.ids, changes.vectors)
    if index.count != changes.total:
        log.warning("vector index does not match the store's vectors; rebuilding")
        return None
    index.manifest = replace(
        held,
        generation=changes.state.generation,
        removed=changes.state.removed,
        removal_seq=changes.state.removal_seq,
        revision=changes.state.revision,
        count=index.count,
        max_id=index.max_live_id(),
    )
    return index
