"""Where a library's vectors are searched: the vector backend interface and its registry.

SQLite holds every vector and is the truth; a backend holds a derived copy for fast search and
follows the store through its counters and removal log (`store.vector_state`): `current()`
brings it up to date with what the store has committed, so the indexer writes vectors to the
store in one transaction per batch and the backend catches up after, and a crash at any moment
leaves a backend that the next `current()` or `rebuild()` repairs from the store. A backend
proves it belongs to its store and model (library id, model identity) and is rebuilt otherwise.

Backends are chosen by `SEARCHAPP_VECTOR_BACKEND`: `faiss` (files beside the store, the default)
or `milvus` (`SEARCHAPP_MILVUS_URI`: a milvus-lite file or a Milvus server); others can be
registered by name (`register_vector_backend`) or through the `searchapp.vector_backends` entry
point group.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Protocol

import numpy as np
from numpy.typing import NDArray

from searchapp.errors import VectorBackendError

if TYPE_CHECKING:
    from searchapp.config import Settings
    from searchapp.store import Store, StoredModel
    from searchapp.vector_base import BuildProgress


class VectorSearcher(Protocol):
    """The vectors as of one follow of the store: what search, maps and samples read."""

    @property
    def count(self) -> int: ...

    @property
    def revision(self) -> str:
        """The store's revision token this state follows (changes with every change)."""
        ...

    def ids(self) -> NDArray[np.int64]:
        """Every id held (`embeddings.id`)."""
        ...

    def search(
        self, queries: NDArray[np.float32], k: int, allowed: NDArray[np.int64] | None = None
    ) -> tuple[NDArray[np.float32], NDArray[np.int64]]:
        """The best min(k, held allowed) ids per query by inner product, best first, with their
        scores; only among `allowed` (ids from the store's filters) if given."""
        ...


class VectorBackend(Protocol):
    """One library's vectors of one model in a search engine, derived from the store."""

    name: str

    def current(self) -> VectorSearcher:
        """Brought up to date with the store (rebuilt when foreign, stale or inconsistent)."""
        ...

    def rebuild(self) -> VectorSearcher:
        """Built again from the store, whatever is held."""
        ...

    def build_now(self, progress: BuildProgress | None = None) -> VectorSearcher:
        """Up to date and in its best shape now (after indexing, before the process exits)."""
        ...

    def save(self) -> None:
        """Make what is held durable for other processes (after a watch round)."""
        ...

    def add(self, ids: NDArray[np.int64], vectors: NDArray[np.float32]) -> None:
        """Add or replace rows (the store already holds them)."""
        ...

    def remove(self, ids: NDArray[np.int64]) -> None:
        """Rows that must never be returned again (the store no longer holds them)."""
        ...

    def status(self) -> dict[str, object]:
        """`vector_index` in `searchapp status`: backend, kind, parameters, count."""
        ...

    def close(self) -> None: ...


BackendFactory = Callable[["Settings", "Store", "StoredModel", bool], VectorBackend]
"""(settings, store, model, background_builds) → backend."""

_BUILT_IN = {
    "faiss": "searchapp.vector_faiss:FaissBackend",
    "milvus": "searchapp.vector_milvus:MilvusBackend",
}
_registered: dict[str, BackendFactory] = {}


def register_vector_backend(name: str, factory: BackendFactory) -> None:
    _registered[name] = factory


def backend_names() -> list[str]:
    plugins = {point.name for point in entry_points(group="searchapp.vector_backends")}
    return sorted(set(_BUILT_IN) | set(_registered) | plugins)


def _factory(name: str) -> BackendFactory:
    if name in _registered:
        return _registered[name]
    target = _BUILT_IN.get(name)
    if target is None:
        for point in entry_points(group="searchapp.vector_backends"):
            if point.name == name:
                factory: BackendFactory = point.load()
                return factory
        raise VectorBackendError(
            f"Unknown vector backend {name!r} (SEARCHAPP_VECTOR_BACKEND); "
            f"choose one of: {', '.join(backend_names())}."
        )
    module, attribute = target.split(":")
    built_in: BackendFactory = getattr(importlib.import_module(module), attribute)
    return built_in


def open_vector_backend(
    settings: Settings, store: Store, model: StoredModel, background_builds: bool = False
) -> VectorBackend:
    """The backend `settings.vector_backend` names, for `model`'s vectors in `store`."""
    return _factory(settings.vector_backend)(settings, store, model, background_builds)
