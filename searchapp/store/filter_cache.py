"""Candidate sets of recent filters, kept per store state, so the second query with the same
filter (the next page, another query text in the same folder, the UI's rerun) skips the SQL.

A set is stored under (filter, model, stamp); the stamp is the store's `revision` (replaced by
every committed change to files, images or vectors) and its `tags_revision` (replaced by every
change to tags), read in the same snapshot as the set itself, so a cached set is exactly what
the query would return now, never an older answer. Least recently used sets leave first once
the cache holds more than its byte budget.
"""

from __future__ import annotations

import secrets
import threading
from collections import OrderedDict
from collections.abc import Hashable

import numpy as np
from numpy.typing import NDArray
from sqlalchemy import Connection, insert, select, update

from searchapp.store.schema import library_state

CACHE_BYTES = 64 << 20
STAMP_KEYS = ("revision", "tags_revision")


def mark_tags_changed(conn: Connection) -> None:
    """A new `tags_revision`, in the transaction that changes tags."""
    value = secrets.token_hex(8)
    key = library_state.c.key == "tags_revision"
    if conn.execute(update(library_state).where(key).values(value=value)).rowcount == 0:
        conn.execute(insert(library_state).values(key="tags_revision", value=value))


def filter_stamp(conn: Connection) -> tuple[str, ...]:
    """What the candidates of a filter depend on, as the store is in `conn`'s snapshot."""
    query = select(library_state.c.key, library_state.c.value).where(
        library_state.c.key.in_(STAMP_KEYS)
    )
    values = {str(row.key): str(row.value) for row in conn.execute(query)}
    return tuple(values.get(key, "") for key in STAMP_KEYS)


class CandidateCache:
    """Thread-safe LRU of read-only id arrays, bounded by their total size in bytes."""

    def __init__(self, max_bytes: int = CACHE_BYTES) -> None:
        self.max_bytes = max_bytes
        self._sets: OrderedDict[Hashable, NDArray[np.int64]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key: Hashable) -> NDArray[np.int64] | None:
        with self._lock:
            found = self._sets.get(key)
            if found is None:
                self.misses += 1
                return None
            self._sets.move_to_end(key)
            self.hits += 1
            return found

    def put(self, key: Hashable, ids: NDArray[np.int64]) -> NDArray[np.int64]:
        """Keep `ids` (made read-only) under `key`; returns them."""
        ids.flags.writeable = False
        if ids.nbytes > self.max_bytes:
            return ids
        with self._lock:
            previous = self._sets.pop(key, None)
            if previous is not None:
                self._bytes -= previous.nbytes
            self._sets[key] = ids
            self._bytes += ids.nbytes
            while self._bytes > self.max_bytes:
                _, oldest = self._sets.popitem(last=False)
                self._bytes -= oldest.nbytes
        return ids
