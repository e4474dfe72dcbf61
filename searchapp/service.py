"""The application layer: one `LibraryService` per library owns every use case. The CLI, the
HTTP API and the UI parse their input, call it and render what it returns; it never prints.

The use cases live by concern in `service_index` (indexing, roots), `service_search`,
`service_photos` (photos, status, collection) and `service_tags`, on the shared state of
`service_core`; `service_vlm` holds captions and questions. It loads a model at most once,
whatever the number of threads asking at the same moment, and is safe to share between the
threads of a server.
"""

from __future__ import annotations

from types import TracebackType
from typing import TYPE_CHECKING

from searchapp.config import Settings
from searchapp.service_index import IndexReport, IndexRequest, IndexUseCases
from searchapp.service_photos import PhotoUseCases
from searchapp.service_search import SEARCH_STAGES, SearchUseCases
from searchapp.service_tags import TagReport, TagUseCases
from searchapp.service_vlm import VisionAssistant

if TYPE_CHECKING:
    from searchapp.doctor import DoctorReport

__all__ = ["SEARCH_STAGES", "IndexReport", "IndexRequest", "LibraryService", "TagReport"]


class LibraryService(IndexUseCases, SearchUseCases, PhotoUseCases, TagUseCases):
    def __init__(self, settings: Settings, single_query: bool = False) -> None:
        super().__init__(settings, single_query)
        self.vision = VisionAssistant(settings, self.store, self.photo_file)
        """Captions and questions (searchapp.service_vlm); its model loads on first use."""

    def close(self) -> None:
        with self._model_lock:
            self.vision.close()
            self.library.close()
            self._thumbnails.close()

    def __enter__(self) -> LibraryService:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    @staticmethod
    def doctor(settings: Settings, repair: bool = False) -> DoctorReport:
        """Check the library's store, vector index, files and model; with `repair`, rebuild
        what is damaged (see `searchapp.doctor`). Static: a damaged library cannot be opened
        as a service."""
        from searchapp.doctor import examine

        return examine(settings, repair)
