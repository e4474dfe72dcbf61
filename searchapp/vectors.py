"""The FAISS index: derived from the store, persisted beside it, rebuilt when it is not current.

Its ids are `embeddings.id`, so a hit always maps back to the right image through SQLite. A small
manifest records which model and which store generation the file was built from; any mismatch
(or a missing file) means rebuild from SQLite.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

if TYPE_CHECKING:
    from searchapp.store import Store, StoredModel

log = logging.getLogger(__name__)
INDEX_FILE = "index.faiss"
MANIFEST_FILE = "manifest.json"


@dataclass(frozen=True)
class Manifest:
    model_key: str
    generation: int
    count: int
    dim: int


class VectorIndex:
    """Exact inner-product search over unit vectors (cosine similarity)."""

    def __init__(self, index: Any, manifest: Manifest) -> None:
        self._index = index
        self.manifest = manifest

    @property
    def count(self) -> int:
        return int(self._index.ntotal)

    def search(
        self, queries: NDArray[np.float32], k: int
    ) -> tuple[NDArray[np.float32], NDArray[np.int64]]:
        k = min(k, self.count)
        if k <= 0:
            empty = np.zeros((len(queries), 0))
            return empty.astype(np.float32), empty.astype(np.int64)
        scores, ids = self._index.search(np.ascontiguousarray(queries, dtype=np.float32), k)
        return scores, ids


def _build(store: Store, model: StoredModel, generation: int) -> VectorIndex:
    import faiss

    index = faiss.IndexIDMap2(faiss.IndexFlatIP(model.dim))
    for ids, vectors in store.iter_vectors(model.id, model.dim):
        index.add_with_ids(vectors, ids)
    manifest = Manifest(model.identity.key, generation, int(index.ntotal), model.dim)
    return VectorIndex(index, manifest)


def _read_manifest(directory: Path) -> Manifest | None:
    try:
        return Manifest(**json.loads((directory / MANIFEST_FILE).read_text()))
    except (OSError, ValueError, TypeError):
        return None


def _persist(index: VectorIndex, directory: Path) -> None:
    """Write index then manifest, each atomically, so a crash leaves an old or a new pair
    whose manifest never claims more than its index holds."""
    import faiss

    directory.mkdir(parents=True, exist_ok=True)
    tmp_index = directory / f".{INDEX_FILE}.{os.getpid()}.tmp"
    faiss.write_index(index._index, str(tmp_index))
    (directory / MANIFEST_FILE).unlink(missing_ok=True)
    os.replace(tmp_index, directory / INDEX_FILE)
    tmp_manifest = directory / f".{MANIFEST_FILE}.{os.getpid()}.tmp"
    tmp_manifest.write_text(json.dumps(asdict(index.manifest)))
    os.replace(tmp_manifest, directory / MANIFEST_FILE)


def load_current(store: Store, model: StoredModel, directory: Path) -> VectorIndex:
    """The index for the store as it is now: read from disk when current, else rebuilt."""
    import faiss

    generation = store.generation()
    manifest = _read_manifest(directory)
    index_path = directory / INDEX_FILE
    if (
        manifest is not None
        and manifest.model_key == model.identity.key
        and manifest.generation == generation
        and index_path.is_file()
    ):
        try:
            index = faiss.read_index(str(index_path))
            if int(index.ntotal) == manifest.count:
                return VectorIndex(index, manifest)
        except RuntimeError as exc:
            log.warning("vector index %s unreadable (%s); rebuilding", index_path, exc)
    reason = "missing" if manifest is None or not index_path.is_file() else "stale"
    log.info("vector index %s; rebuilding from the store", reason)
    rebuilt = _build(store, model, generation)
    _persist(rebuilt, directory)
    return rebuilt
