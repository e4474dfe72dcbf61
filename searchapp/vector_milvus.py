"""The Milvus vector backend: one collection per library and model, derived from the store.

The collection is named after the library id and the model identity
(`searchapp_<library>_<model>`), and tagged with both in its properties, with the dimension and
the store state it follows (generation, revision, removal seq, highest id): a collection whose
tags do not match, or whose state the store cannot have produced (a restored backup, another
library, a build cut short), is dropped and rebuilt from the store, never served. `current()`
follows the store like the FAISS index does: ids removed or changed since the held removal seq
are deleted, rows above the held highest id (and changed ones) upserted, the count checked
against the store's, then the new state written; every step is idempotent, so a crash between
them is repaired by the next follow. Scores are inner products (metric IP) over unit vectors.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import re
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, Concatenate, ParamSpec, TypeVar

import numpy as np
from numpy.typing import NDArray

from searchapp.errors import VectorBackendError
from searchapp.milvus_client import connect, describe_failure, is_local, milvus_uri, release
from searchapp.vector_base import merge_top_k

if TYPE_CHECKING:
    from searchapp.config import Settings
    from searchapp.store import Store, StoredModel
    from searchapp.vector_base import BuildProgress

log = logging.getLogger(__name__)
PREFIX = "searchapp."
WRITE_BATCH = 2_000
FILTER_CHUNK = 16_384  # allowed ids per `id in [...]` expression
MAX_LIMIT = 16_384  # Milvus's top-k ceiling
P = ParamSpec("P")
R = TypeVar("R")
Method = Callable[Concatenate["MilvusBackend", P], R]


def reported(what: str) -> Callable[[Method[P, R]], Method[P, R]]:
    """A Milvus failure (after pymilvus's own retries with backoff) becomes one line; the store
    keeps every vector, so nothing is lost and the next follow repairs the collection."""

    def wrap(method: Method[P, R]) -> Method[P, R]:
        @functools.wraps(method)
        def call(self: MilvusBackend, /, *args: P.args, **kwargs: P.kwargs) -> R:
            try:
                return method(self, *args, **kwargs)
            except VectorBackendError:
                raise
            except Exception as exc:
                from pymilvus.exceptions import MilvusException

                if not isinstance(exc, MilvusException):
                    raise
                raise VectorBackendError(
                    f"Milvus at {self.uri} failed while {what} ({describe_failure(exc)}). Check "
                    "the server and try again; the library's vectors are safe in its store."
                ) from None

        return call

    return wrap


@dataclass(frozen=True)
class CollectionState:
    """What a collection is of (library, model, dim) and which store state it follows."""

    library_id: str
    model_key: str
    dim: int
    generation: int = -1  # -1: never completed a build
    revision: str = ""
    removal_seq: int = -1
    max_id: int = 0
    count: int = 0

    def properties(self) -> dict[str, str]:
        return {PREFIX + key: str(value) for key, value in asdict(self).items()}

    @classmethod
    def of(cls, properties: dict[str, Any]) -> CollectionState | None:
        values = {k[len(PREFIX) :]: str(v) for k, v in properties.items() if k.startswith(PREFIX)}
        try:
            return cls(
                values["library_id"],
                values["model_key"],
                int(values["dim"]),
                int(values.get("generation", -1)),
                values.get("revision", ""),
                int(values.get("removal_seq", -1)),
                int(values.get("max_id", 0)),
                int(values.get("count", 0)),
            )
        except (KeyError, ValueError):
            return None


def collection_name(library_id: str, model_key: str) -> str:
    library = re.sub(r"[^0-9A-Za-z]", "", library_id)[:32] or "unknown"
    model = hashlib.sha256(model_key.encode()).hexdigest()[:16]
    return f"searchapp_{library}_{model}"


class MilvusBackend:
    """A library's vectors of one model in a Milvus collection; also its own searcher."""

    name = "milvus"

    def __init__(
        self, settings: Settings, store: Store, model: StoredModel, background_builds: bool = False
    ) -> None:
        self.store = store
        self.model = model
        self.index_type = settings.milvus_index
        self.uri = milvus_uri(settings)
        self.client = connect(settings)
        self.library_id = store.library_id()
        self.collection = collection_name(self.library_id, model.identity.key)
        self._lock = threading.RLock()
        self._state: CollectionState | None = None
        self.last_refresh = "none"

    # -- following the store ------------------------------------------------------------------

    def _wanted(self) -> CollectionState:
        return CollectionState(self.library_id, self.model.identity.key, self.model.dim)

    def _held(self) -> CollectionState | None:
        """The collection's state if it is this library's and model's and completely built."""
        if not self.client.has_collection(self.collection):
            return None
        described = self.client.describe_collection(self.collection)
        state = CollectionState.of(described.get("properties") or {})
        self.client.load_collection(self.collection)  # a reopened collection starts released
        wanted = self._wanted()
        if state is None or (state.library_id, state.model_key, state.dim) != (
            wanted.library_id,
            wanted.model_key,
            wanted.dim,
        ):
            log.warning("Milvus collection %s is not this library's; rebuilding", self.collection)
            return None
        return state if state.generation >= 0 and state.removal_seq >= 0 else None

    @reported("following the library")
    def current(self) -> MilvusBackend:
        from searchapp.store.vector_state import vector_changes, vector_state

        with self._lock:
            held = self._state if self._state is not None else self._held()
            if held is None:
                return self.rebuild()
            now = vector_state(self.store.engine)
            if now.revision == held.revision and now.generation == held.generation:
                self._state, self.last_refresh = held, "unchanged"
                return self
            if now.generation <= held.generation or now.removal_seq < held.removal_seq:
                log.warning("Milvus collection follows another store state; rebuilding")
                return self.rebuild()
            changes = vector_changes(
                self.store.engine, self.model.id, self.model.dim, held.max_id, held.removal_seq
            )
            self.remove(changes.dropped)
            self.add(changes.ids, changes.vectors)
            self._seal()
            count = self._count()
            if count != changes.total:
                log.warning("Milvus has %d vectors, the store %d: rebuilding", count, changes.total)
                return self.rebuild()
            highest = max([held.max_id, *changes.ids.tolist()]) if count else 0
            self._write_state(
                held, changes.state.generation, changes.state.revision,
                changes.state.removal_seq, highest, count,
            )  # fmt: skip
            self.last_refresh = "dropped" if len(changes.dropped) else "added"
            return self

    def _write_state(
        self,
        held: CollectionState,
        generation: int,
        revision: str,
        removal_seq: int,
        max_id: int,
        count: int,
    ) -> None:
        state = CollectionState(
            held.library_id, held.model_key, held.dim, generation, revision, removal_seq,
            max_id, count,
        )  # fmt: skip
        self.client.alter_collection_properties(self.collection, properties=state.properties())
        self._state = state

    @reported("rebuilding the collection")
    def rebuild(self, progress: BuildProgress | None = None) -> MilvusBackend:
        """Drop the collection and load every vector of the model from the store."""
        from searchapp.store.vector_state import model_extent, vector_state

        with self._lock:
            started = time.perf_counter()
            self._state = None
            self._create()
            state = vector_state(self.store.engine)
            total, highest = model_extent(self.store.engine, self.model.id)
            done = 0
            for ids, vectors in self.store.vectors.iter_vectors(
                self.model.id, self.model.dim, up_to_id=highest
            ):
                self.add(ids, vectors)
                done += len(ids)
                if progress is not None:
                    progress("loading into Milvus", done, total)
            self._seal()
            self._write_state(
                self._wanted(), state.generation, state.revision, state.removal_seq,
                highest, self._count(),
            )  # fmt: skip
            self.last_refresh = "loaded"
            log.info(
                "built Milvus collection %s: %d vectors in %.1f s",
                self.collection, done, time.perf_counter() - started,
            )  # fmt: skip
        return self.current()

    def _create(self) -> None:
        from pymilvus import DataType, MilvusClient

        if self.client.has_collection(self.collection):
            self.client.drop_collection(self.collection)
        schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
        schema.add_field("id", DataType.INT64, is_primary=True)
        schema.add_field("vector", DataType.FLOAT_VECTOR, dim=self.model.dim)
        index = self.client.prepare_index_params()
        index.add_index("vector", index_type=self.index_type, metric_type="IP")
        self.client.create_collection(
            self.collection, schema=schema, index_params=index, consistency_level="Strong"
        )
        self.client.alter_collection_properties(
            self.collection, properties=self._wanted().properties()
        )

    def build_now(self, progress: BuildProgress | None = None) -> MilvusBackend:
        with self._lock:
            if self._state is None and self._held() is None:
                return self.rebuild(progress)
            return self.current()

    def save(self) -> None:
        self.current()  # every follow is already durable in Milvus

    # -- rows ---------------------------------------------------------------------------------

    @reported("adding vectors")
    def add(self, ids: NDArray[np.int64], vectors: NDArray[np.float32]) -> None:
        for start in range(0, len(ids), WRITE_BATCH):
            rows = [
                {"id": int(i), "vector": v}
                for i, v in zip(
                    ids[start : start + WRITE_BATCH].tolist(),
                    np.asarray(vectors[start : start + WRITE_BATCH], np.float32).tolist(),
                    strict=True,
                )
            ]
            self.client.upsert(self.collection, rows)

    @reported("removing vectors")
    def remove(self, ids: NDArray[np.int64]) -> None:
        for start in range(0, len(ids), WRITE_BATCH):
            self.client.delete(self.collection, ids=ids[start : start + WRITE_BATCH].tolist())

    def _seal(self) -> None:
        """Flush what was written: sealed segments are durable and searched through the index
        (on milvus-lite a query over unflushed rows was 10-30x slower in `vector_backends`)."""
        self.client.flush(self.collection)

    def _count(self) -> int:
        rows = self.client.query(self.collection, output_fields=["count(*)"])
        return int(rows[0]["count(*)"])

    # -- searching ----------------------------------------------------------------------------

    @property
    def count(self) -> int:
        return self._state.count if self._state is not None else self._count()

    @property
    def revision(self) -> str:
        return self._state.revision if self._state is not None else ""

    @reported("listing vectors")
    def ids(self) -> NDArray[np.int64]:
        found: list[int] = []
        iterator = self.client.query_iterator(
            self.collection, batch_size=10_000, filter="id >= 0", output_fields=["id"]
        )
        try:
            while page := iterator.next():
                found.extend(int(row["id"]) for row in page)
        finally:
            iterator.close()
        return np.sort(np.asarray(found, dtype=np.int64))

    @reported("searching")
    def search(
        self, queries: NDArray[np.float32], k: int, allowed: NDArray[np.int64] | None = None
    ) -> tuple[NDArray[np.float32], NDArray[np.int64]]:
        queries = np.ascontiguousarray(np.atleast_2d(queries), dtype=np.float32)
        k = min(k, MAX_LIMIT)
        if allowed is None:
            return self._search(queries, k, "")
        wanted = np.unique(np.asarray(allowed, dtype=np.int64))
        parts = [
            self._search(queries, k, f"id in {wanted[start : start + FILTER_CHUNK].tolist()}")
            for start in range(0, len(wanted), FILTER_CHUNK)
        ]
        return merge_top_k(parts, k, len(queries))

    def _search(
        self, queries: NDArray[np.float32], k: int, expression: str
    ) -> tuple[NDArray[np.float32], NDArray[np.int64]]:
        if k <= 0:
            return np.zeros((len(queries), 0), np.float32), np.zeros((len(queries), 0), np.int64)
        results = self.client.search(
            self.collection,
            data=queries.tolist(),
            limit=k,
            filter=expression,
            output_fields=["id"],
            search_params={"metric_type": "IP"},
        )
        width = min((len(hits) for hits in results), default=0)
        scores = np.asarray([[h["distance"] for h in hits[:width]] for hits in results], np.float32)
        ids = np.asarray([[h["id"] for h in hits[:width]] for hits in results], np.int64)
        order = np.lexsort((ids, -scores), axis=1)  # ties by id, as the FAISS index
        scores = np.take_along_axis(scores.reshape(len(queries), width), order, axis=1)
        return scores, np.take_along_axis(ids.reshape(len(queries), width), order, axis=1)

    # -- reporting ----------------------------------------------------------------------------

    def status(self) -> dict[str, object]:
        held = self._state
        return {
            "backend": self.name,
            "kind": f"milvus {self.index_type}",
            "params": {"uri": self.uri if is_local(self.uri) else self.uri.split("@")[-1]},
            "collection": self.collection,
            "count": held.count if held is not None else None,
            "building": False,
            "build": None,
        }

    def close(self) -> None:
        release(self.client, self.uri)
