"""The FAISS index: derived from the store, persisted beside it, rebuilt when it is not current.

Its ids are `embeddings.id`, so a hit always maps back to the right image through SQLite. The
manifest (`vector_file`) names the store it was built from (library id and revision), the model,
the highest id it holds, the store's removal counter and the file's checksum. When the store only
gained rows since, the index is brought up to date by adding the ids above its highest; any
other mismatch (another library, a restored backup, a damaged or missing file) means rebuild
from SQLite, and the rebuilt index replaces the file.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from searchapp.store.vector_state import vector_state
from searchapp.vector_file import (
    Manifest,
    VectorFileError,
    read_pair,
    sweep_temporary_files,
    write_pair,
)

if TYPE_CHECKING:
    from searchapp.store import Store, StoredModel

log = logging.getLogger(__name__)
REBUILD_ATTEMPTS = 3
__all__ = ["Manifest", "VectorIndex", "load_current", "persist", "rebuild", "refresh"]


class VectorIndex:
    """Exact inner-product search over unit vectors (cosine similarity)."""

    def __init__(self, index: Any, manifest: Manifest) -> None:
        self._index = index
        self.manifest = manifest
        self._lock = threading.Lock()  # a refresh adds rows while other threads may search

    def ids(self) -> NDArray[np.int64]:
        """Every id the index holds (`embeddings.id`), in insertion order."""
        import faiss

        with self._lock:
            return np.asarray(faiss.vector_to_array(self._index.id_map), dtype=np.int64)

    def add(self, ids: NDArray[np.int64], vectors: NDArray[np.float32]) -> None:
        with self._lock:
            self._index.add_with_ids(vectors, ids)

    @property
    def count(self) -> int:
        return int(self._index.ntotal)

    def search(
        self, queries: NDArray[np.float32], k: int, allowed: NDArray[np.int64] | None = None
    ) -> tuple[NDArray[np.float32], NDArray[np.int64]]:
        """The `k` best ids per query (-1 where fewer exist), only among `allowed` if given."""
        import faiss

        k = min(k, self.count if allowed is None else len(allowed))
        if k <= 0:
            empty = np.zeros((len(queries), 0))
            return empty.astype(np.float32), empty.astype(np.int64)
        params = None
        if allowed is not None:
            selector = faiss.IDSelectorBatch(np.ascontiguousarray(allowed, dtype=np.int64))
            params = faiss.SearchParameters()
            params.sel = selector
        queries = np.ascontiguousarray(queries, dtype=np.float32)
        with self._lock:
            scores, ids = self._index.search(queries, k, params=params)
        return scores, ids


def _build(store: Store, model: StoredModel) -> VectorIndex:
    """All the model's vectors. The counters are read before the rows, so the manifest never
    claims more than the index holds; a removal during the read means read again."""
    import faiss

    for _ in range(REBUILD_ATTEMPTS):
        state = vector_state(store.engine)
        index = faiss.IndexIDMap2(faiss.IndexFlatIP(model.dim))
        max_id = 0
        for ids, vectors in store.iter_vectors(model.id, model.dim):
            index.add_with_ids(vectors, ids)
            max_id = int(ids[-1])
        if vector_state(store.engine).removed == state.removed:
            break
    manifest = Manifest(
        model.identity.key,
        state.generation,
        int(index.ntotal),
        model.dim,
        max_id,
        state.removed,
        store.library_id(),
        state.revision,
    )
    return VectorIndex(index, manifest)


def refresh(index: VectorIndex, store: Store, model: StoredModel) -> VectorIndex | None:
    """`index` brought up to date in place when rows were only added since it was built (or it
    is current); None when rows were removed or changed, the model differs, or the store is not
    the one it was built from (another library, a restored backup): rebuild then."""
    held = index.manifest
    if held.model_key != model.identity.key or held.dim != model.dim or held.removed < 0:
        return None
    if not held.revision:
        return None
    state = vector_state(store.engine)
    if state.revision == held.revision and state.generation == held.generation:
        return index
    if state.removed != held.removed or state.generation <= held.generation:
        return None
    if store.count_vectors(model.id, held.max_id) != held.count:
        return None
    max_id = held.max_id
    for ids, vectors in store.iter_vectors(model.id, model.dim, after_id=held.max_id):
        index.add(ids, vectors)
        max_id = int(ids[-1])
    if vector_state(store.engine).removed != state.removed:
        return None
    index.manifest = replace(
        held,
        generation=state.generation,
        revision=state.revision,
        count=index.count,
        max_id=max_id,
    )
    return index


def _read(store: Store, model: StoredModel, directory: Path) -> VectorIndex | None:
    """The persisted index of this library and model, if there is a whole, sound one."""
    pair = read_pair(directory, store.library_id(), model.identity.key)
    return None if pair is None else VectorIndex(*pair)


def persist(index: VectorIndex, directory: Path) -> None:
    """Write the index and its manifest (see `vector_file.write_pair`); raises VectorFileError."""
    with index._lock:
        index.manifest = write_pair(index._index, index.manifest, directory)


def _persist_quietly(index: VectorIndex, directory: Path) -> None:
    """The index is derived: failing to save it (read-only mount, disk full) costs the next
    reader a rebuild, never this query."""
    try:
        persist(index, directory)
    except VectorFileError as exc:
        log.warning("%s", exc)


def rebuild(store: Store, model: StoredModel, directory: Path) -> VectorIndex:
    """A new index from every stored vector, replacing the file on disk (when it can)."""
    rebuilt = _build(store, model)
    _persist_quietly(rebuilt, directory)
    return rebuilt


def load_current(store: Store, model: StoredModel, directory: Path) -> VectorIndex:
    """The index for the store as it is now: read from disk, plus the rows added since it was
    written; rebuilt from the store when that is not enough. A changed index is persisted."""
    if directory.is_dir():
        sweep_temporary_files(directory)
    on_disk = _read(store, model, directory)
    if on_disk is not None:
        written = (on_disk.manifest.revision, on_disk.manifest.generation)
        current = refresh(on_disk, store, model)
        if current is not None:
            if (current.manifest.revision, current.manifest.generation) != written:
                _persist_quietly(current, directory)
            return current
    log.info("vector index %s; rebuilding from the store", "stale" if on_disk else "missing")
    return rebuild(store, model, directory)
