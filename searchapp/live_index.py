"""The vector index of a process: it follows the store while another process writes to it (at
the cost of one small query when nothing changed), and is rebuilt when the library crosses
`SEARCHAPP_ANN_MIN_PHOTOS` or its delta grows large. In a long-running process (`serve`,
`watch`) the rebuild runs in a background thread while the held index keeps answering, and the
new one is swapped in atomically once it has caught up with the store."""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from searchapp.vector_base import EXACT, BuildProgress, IndexPlan, plan_for
from searchapp.vector_build import build, load_current, rebuild
from searchapp.vector_file import VectorFileError, persist, persist_quietly
from searchapp.vectors import VectorIndex, rebuild_reason, refresh

if TYPE_CHECKING:
    from searchapp.store import Store, StoredModel

log = logging.getLogger(__name__)
KEEP_APPROXIMATE_DOWN_TO = 0.8  # of the threshold: no flip-flop around it


class LiveVectorIndex:
    """`current()` returns the index as the store is now. Safe to call from several threads.

    `last_refresh` says what the latest call did: "loaded", "unchanged", "added" (rows only
    added) or "dropped" (rows removed or changed, maybe added too); `swaps` counts the rebuilt
    indexes swapped in.
    """

    def __init__(
        self,
        store: Store,
        model: StoredModel,
        directory: Path,
        ann_min_photos: int,
        background_builds: bool = False,
        stamps_dir: Path | None = None,
    ) -> None:
        self.store = store
        self.stamps_dir = stamps_dir
        self.model = model
        self.directory = directory
        self.ann_min_photos = ann_min_photos
        self.background_builds = background_builds
        self.last_refresh = "none"
        self.swaps = 0
        self._index: VectorIndex | None = None
        self._lock = threading.Lock()
        self._builder: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self._persisted_generation = -1

    @property
    def held(self) -> VectorIndex | None:
        """The index this process holds now, as last followed (None before the first query)."""
        return self._index

    @property
    def building(self) -> bool:
        return self._builder is not None and self._builder.is_alive()

    def current(self) -> VectorIndex:
        with self._lock:
            index = self._follow()
        if self.background_builds and not self.building:
            with self._start_lock:
                if not self.building and self.rebuild_plan(index) is not None:
                    self._builder = threading.Thread(
                        target=self._build_in_background, name="vector-index-build", daemon=True
                    )
                    self._builder.start()
        return index

    def _follow(self) -> VectorIndex:
        if self._index is not None:
            before = (self._index.manifest.generation, self._index.manifest.removed)
            refreshed = refresh(self._index, self.store, self.model)
            if refreshed is not None:
                after = (refreshed.manifest.generation, refreshed.manifest.removed)
                if after[1] != before[1]:
                    self.last_refresh = "dropped"
                else:
                    self.last_refresh = "added" if after != before else "unchanged"
                return refreshed
        self._index = load_current(
            self.store, self.model, self.directory, stamps_dir=self.stamps_dir
        )
        self._persisted_generation = self._index.manifest.generation
        self.last_refresh = "loaded"
        return self._index

    def wanted_plan(self, index: VectorIndex) -> IndexPlan:
        threshold = self.ann_min_photos
        if index.kind != EXACT:
            threshold = int(threshold * KEEP_APPROXIMATE_DOWN_TO)
        return plan_for(index.count, threshold)

    def rebuild_plan(self, index: VectorIndex) -> IndexPlan | None:
        """The plan to rebuild with, or None when the held index is fine as it is."""
        wanted = self.wanted_plan(index)
        reason = rebuild_reason(index, wanted)
        if reason is None:
            return None
        log.info("vector index to rebuild: %s", reason)
        return wanted

    def rebuild(self) -> VectorIndex:
        """Drop the held index and build it again from the store (it gave impossible answers)."""
        with self._lock:
            plan = IndexPlan() if self._index is None else self.wanted_plan(self._index)
            self._index = rebuild(self.store, self.model, self.directory, plan)
            self._persisted_generation = self._index.manifest.generation
            self.last_refresh = "loaded"
            return self._index

    def build_now(self, progress: BuildProgress | None = None) -> VectorIndex:
        """Rebuild at once if the index calls for it (what `searchapp index` does before it
        exits), then swap it in and save it."""
        with self._lock:
            if self._index is None:  # no index yet: build the wanted kind at once, not exact first
                self._index = load_current(
                    self.store,
                    self.model,
                    self.directory,
                    self.ann_min_photos,
                    progress,
                    self.stamps_dir,
                )
                self._persisted_generation = self._index.manifest.generation
        index = self.current()
        plan = self.rebuild_plan(index)
        if plan is None:
            return index
        return self._swap_in(build(self.store, self.model, self.directory, plan, progress))

    def _build_in_background(self) -> None:
        try:
            with self._lock:
                index = self._follow()
            plan = self.rebuild_plan(index)
            if plan is not None:
                self._swap_in(build(self.store, self.model, self.directory, plan))
        except Exception:
            log.exception("building the vector index failed; the current one keeps answering")

    def _swap_in(self, built: VectorIndex) -> VectorIndex:
        with self._lock:
            current = refresh(built, self.store, self.model) or built
            self._index = current
            self.swaps += 1
        persist_quietly(current, self.directory)
        self._persisted_generation = current.manifest.generation
        log.info("swapped in a %s vector index of %d rows", current.kind, current.count)
        return current

    def wait_for_build(self, timeout: float | None = None) -> None:
        builder = self._builder
        if builder is not None:
            builder.join(timeout)

    def persist(self) -> None:
        """Save the index as it is now, if it changed since this process last saved or loaded
        it, so that short-lived readers (`searchapp search`) start from a current file."""
        index = self.current()
        if index.manifest.generation == self._persisted_generation:
            return
        try:
            persist(index, self.directory)
        except VectorFileError as exc:
            log.warning("%s", exc)
            return
        self._persisted_generation = index.manifest.generation
