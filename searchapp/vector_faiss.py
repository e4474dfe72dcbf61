"""The FAISS vector backend (the embedded default): the vector index files beside the store
(`vectors`, `vector_base`, `vector_build`, `vector_file`), followed per query by
`LiveVectorIndex`; its manifest names the library, the model and the store revision, and its
files' checksums, so a foreign or stale index is never served."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from searchapp.live_index import LiveVectorIndex

if TYPE_CHECKING:
    from searchapp.config import Settings
    from searchapp.store import Store, StoredModel
    from searchapp.vector_base import BuildProgress
    from searchapp.vectors import VectorIndex


class FaissBackend:
    name = "faiss"

    def __init__(
        self, settings: Settings, store: Store, model: StoredModel, background_builds: bool = False
    ) -> None:
        self.model = model
        self.live = LiveVectorIndex(
            store,
            model,
            settings.vectors_dir,
            settings.ann_min_photos,
            background_builds,
            settings.cache_dir / "verified",
        )

    def current(self) -> VectorIndex:
        return self.live.current()

    def rebuild(self) -> VectorIndex:
        return self.live.rebuild()

    def build_now(self, progress: BuildProgress | None = None) -> VectorIndex:
        return self.live.build_now(progress)

    def save(self) -> None:
        self.live.persist()

    def add(self, ids: NDArray[np.int64], vectors: NDArray[np.float32]) -> None:
        self.live.current().add(ids, vectors)

    def remove(self, ids: NDArray[np.int64]) -> None:
        self.live.current().drop(ids)

    def status(self) -> dict[str, object]:
        from searchapp.vector_file import index_status

        report = index_status(self.live.directory, self.live.building)
        held = self.live.held
        if held is not None:  # this process's index (a server's) may be newer than the file
            report.update(kind=held.kind, params=held.manifest.params or {}, count=held.count)
            report.update(base_count=held.base.count, built_at=held.manifest.built_at)
        report["backend"] = self.name
        return report

    def close(self) -> None:
        """Nothing to release: a background build (a daemon thread) ends with the process."""
