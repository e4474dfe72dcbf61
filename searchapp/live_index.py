"""The vector index of a long-running process (the background indexer, the API): it follows the
store while another process writes to it, at the cost of one small query when nothing changed."""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from searchapp.vector_file import VectorFileError
from searchapp.vectors import VectorIndex, load_current, persist, rebuild, refresh

if TYPE_CHECKING:
    from searchapp.store import Store, StoredModel

log = logging.getLogger(__name__)


class LiveVectorIndex:
    """`current()` returns the index as the store is now: the held one when nothing changed; the
    held one plus the new rows when rows were only added; otherwise the persisted index (if a
    peer already brought it up to date) or a rebuild. Safe to call from several threads.

    `last_refresh` says what the latest call did: "loaded", "unchanged" or "added".
    """

    def __init__(self, store: Store, model: StoredModel, directory: Path) -> None:
        self.store = store
        self.model = model
        self.directory = directory
        self.last_refresh = "none"
        self._index: VectorIndex | None = None
        self._lock = threading.Lock()
        self._persisted_revision = ""

    def current(self) -> VectorIndex:
        with self._lock:
            if self._index is not None:
                before = self._index.manifest.generation
                refreshed = refresh(self._index, self.store, self.model)
                if refreshed is not None:
                    changed = refreshed.manifest.generation != before
                    self.last_refresh = "added" if changed else "unchanged"
                    return refreshed
            self._index = load_current(self.store, self.model, self.directory)
            self._persisted_revision = self._index.manifest.revision
            self.last_refresh = "loaded"
            return self._index

    def rebuild(self) -> VectorIndex:
        """Drop the held index and build it again from the store (it gave impossible answers)."""
        with self._lock:
            self._index = rebuild(self.store, self.model, self.directory)
            self._persisted_revision = self._index.manifest.revision
            self.last_refresh = "loaded"
            return self._index

    def persist(self) -> None:
        """Save the index as it is now, if it changed since this process last saved or loaded
        it, so that short-lived readers (`searchapp search`) start from a current file."""
        index = self.current()
        if index.manifest.revision == self._persisted_revision:
            return
        try:
            persist(index, self.directory)
        except VectorFileError as exc:
            log.warning("%s", exc)
            return
        self._persisted_revision = index.manifest.revision
