"""The state every use case of the application layer shares: the library, its store, the
model lock (a model loads at most once, whatever the number of threads asking) and the loaded
models. `LibraryService` (searchapp.service) composes the use cases on top of it."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from searchapp.config import Settings
from searchapp.library import Library
from searchapp.models.base import ModelSpec
from searchapp.text_vector_cache import TextVectorCache
from searchapp.thumbnails import ThumbnailCache

if TYPE_CHECKING:
    from searchapp.library_map import LibraryMap
    from searchapp.models.base import Embedder, TextEncoder
    from searchapp.search import Ranker
    from searchapp.store import StoredModel


class ServiceCore:
    def __init__(self, settings: Settings, single_query: bool = False) -> None:
        self.settings = settings
        self.library = Library(settings, single_query)
        self.store = self.library.store
        self._model_lock = threading.RLock()
        self._rankers: dict[int, Ranker] = {}
        self._text_vectors = TextVectorCache()
        self._maps: dict[tuple[object, ...], LibraryMap] = {}
        self._thumbnails = ThumbnailCache(
            settings.thumbnails_dir,
            settings.max_image_megapixels,
            int(settings.max_file_megabytes * 1e6),
        )

    def query_model(self, requested: ModelSpec | None = None) -> StoredModel:
        return self.library.query_model(requested)

    def check_vector_backend(self, model: StoredModel | None = None) -> None:
        """Open the vector backend now (of `model`, else the library's), so that an unreachable
        or misconfigured one is reported in one line at start, not at the first query."""
        model = model or self.store.active_model()
        if model is not None:
            self.library.vector_backend(model)

    def uses_model(self, spec: ModelSpec) -> bool:
        """Whether the library is indexed with the model `spec` names."""
        active = self.store.active_model()
        from searchapp.models.registry import get_backend

        identity = get_backend(spec.backend).identify(spec)
        return active is not None and active.identity.key == identity.key

    def embedder(self, model: StoredModel) -> Embedder:
        """The loaded model; one load however many threads ask at once."""
        with self._model_lock:
            return self.library.embedder(model)

    def text_encoder(self, model: StoredModel) -> TextEncoder:
        with self._model_lock:
            return self.library.text_encoder(model)
