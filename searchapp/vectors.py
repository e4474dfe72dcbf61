"""The FAISS index: derived from the store, persisted beside it, rebuilt when it is not current.

Its ids are `embeddings.id`, so a hit always maps back to the right image through SQLite. A small
manifest records which model and which store generation the file was built from, the highest id
it holds and the store's removal counter. When only the generation moved, rows were only added
and the index is brought up to date by adding the ids above its highest; any other mismatch (or
a missing file) means rebuild from SQLite. Index and manifest are read and written as a pair
under a file lock, so processes sharing a data directory never see one without the other.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
from collections.abc import Iterator
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from searchapp.store.vector_state import vector_state

if TYPE_CHECKING:
    from searchapp.store import Store, StoredModel

log = logging.getLogger(__name__)
INDEX_FILE = "index.faiss"
MANIFEST_FILE = "manifest.json"
LOCK_FILE = ".lock"
REBUILD_ATTEMPTS = 3


@dataclass(frozen=True)
class Manifest:
    model_key: str
    generation: int
    count: int
    dim: int
    max_id: int = 0
    removed: int = -1  # the store's `vectors_removed` when built; -1 (older manifests): unknown


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
        model.identity.key, state.generation, int(index.ntotal), model.dim, max_id, state.removed
    )
    return VectorIndex(index, manifest)


def refresh(index: VectorIndex, store: Store, model: StoredModel) -> VectorIndex | None:
    """`index` brought up to date in place when rows were only added since it was built (or it
    is current); None when rows were removed or changed, or the model differs: rebuild then."""
    held = index.manifest
    if held.model_key != model.identity.key or held.dim != model.dim or held.removed < 0:
        return None
    state = vector_state(store.engine)
    if state.removed != held.removed:
        return None
    if state.generation == held.generation:
        return index
    max_id = held.max_id
    for ids, vectors in store.iter_vectors(model.id, model.dim, after_id=held.max_id):
        index.add(ids, vectors)
        max_id = int(ids[-1])
    if vector_state(store.engine).removed != state.removed:
        return None
    index.manifest = replace(held, generation=state.generation, count=index.count, max_id=max_id)
    return index


@contextlib.contextmanager
def _locked(directory: Path, exclusive: bool) -> Iterator[None]:
    """Readers share the lock, a writer holds it alone. A data directory this process cannot
    write to (a read-only mount), or a system without `fcntl` (Windows), goes without it."""
    try:
        import fcntl

        directory.mkdir(parents=True, exist_ok=True)
        handle = open(directory / LOCK_FILE, "a+b")  # noqa: SIM115 (held across the yield)
    except (ImportError, OSError):
        yield
        return
    with handle:
        fcntl.flock(handle, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        yield


def _read_manifest(directory: Path) -> Manifest | None:
    try:
        return Manifest(**json.loads((directory / MANIFEST_FILE).read_text()))
    except (OSError, ValueError, TypeError):
        return None


def _read(model: StoredModel, directory: Path) -> VectorIndex | None:
    """The persisted index of this model, if there is a whole one."""
    import faiss

    index_path = directory / INDEX_FILE
    with _locked(directory, exclusive=False):
        manifest = _read_manifest(directory)
        if manifest is None or manifest.model_key != model.identity.key:
            return None
        try:
            index = faiss.read_index(str(index_path))
        except RuntimeError as exc:
            if index_path.exists():
                log.warning("vector index %s unreadable (%s); rebuilding", index_path, exc)
            return None
    if int(index.ntotal) != manifest.count:
        return None
    return VectorIndex(index, manifest)


def persist(index: VectorIndex, directory: Path) -> None:
    """Write index then manifest, each atomically, under the lock; a newer pair on disk (written
    by another process) is kept. Temporary files that a killed writer left are removed."""
    import faiss

    with _locked(directory, exclusive=True):
        on_disk = _read_manifest(directory)
        if (
            on_disk is not None
            and on_disk.model_key == index.manifest.model_key
            and on_disk.removed >= 0
            and on_disk.generation >= index.manifest.generation
            and (directory / INDEX_FILE).is_file()
        ):
            return
        for leftover in directory.glob(".*.tmp"):
            leftover.unlink(missing_ok=True)
        tmp_index = directory / f".{INDEX_FILE}.{os.getpid()}.tmp"
        with index._lock:
            faiss.write_index(index._index, str(tmp_index))
        (directory / MANIFEST_FILE).unlink(missing_ok=True)
        os.replace(tmp_index, directory / INDEX_FILE)
        tmp_manifest = directory / f".{MANIFEST_FILE}.{os.getpid()}.tmp"
        tmp_manifest.write_text(json.dumps(asdict(index.manifest)))
        os.replace(tmp_manifest, directory / MANIFEST_FILE)


def _persist_quietly(index: VectorIndex, directory: Path) -> None:
    """The index is derived: failing to save it (read-only mount, disk full) costs the next
    reader a rebuild, never this query."""
    try:
        persist(index, directory)
    except OSError as exc:
        log.warning("could not save the vector index in %s: %s", directory, exc)


def load_current(store: Store, model: StoredModel, directory: Path) -> VectorIndex:
    """The index for the store as it is now: read from disk, plus the rows added since it was
    written; rebuilt from the store when that is not enough. A changed index is persisted."""
    on_disk = _read(model, directory)
    if on_disk is not None:
        written = on_disk.manifest.generation
        current = refresh(on_disk, store, model)
        if current is not None:
            if current.manifest.generation != written:
                _persist_quietly(current, directory)
            return current
    log.info("vector index %s; rebuilding from the store", "stale" if on_disk else "missing")
    rebuilt = _build(store, model)
    _persist_quietly(rebuilt, directory)
    return rebuilt
