"""Photo and collection use cases of the application layer: one photo's details, original
and thumbnail, the library's status, folders, near-duplicates and its 2-D map."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from searchapp.errors import InvalidQueryError, PhotoNotFoundError
from searchapp.file_names import shown_path
from searchapp.service_core import ServiceCore
from searchapp.service_status import PhotoDetails, library_status, photo_details
from searchapp.store.photo_queries import PhotoFilter
from searchapp.thumbnails import DEFAULT_SIZE as DEFAULT_THUMBNAIL_SIZE
from searchapp.thumbnails import check_size as check_thumbnail_size

if TYPE_CHECKING:
    from searchapp.library_map import LibraryMap
    from searchapp.near_duplicates import DuplicateGroup


class PhotoUseCases(ServiceCore):
    def photo(self, photo_id: int) -> PhotoDetails:
        """One photo's metadata and tags, by id."""
        row = self.store.photos.photo(photo_id, None)
        if row is None:
            raise PhotoNotFoundError(f"No indexed photo has the id {photo_id}.")
        return self.photo_at(Path(row.path))

    def photo_at(self, path: Path) -> PhotoDetails:
        """What the library holds for one file (`searchapp info`)."""
        return photo_details(self.store, os.path.abspath(path))

    def photo_file(self, photo_id: int) -> Path:
        """The original file of an indexed photo, only when it is still the indexed regular file
        (symlinks resolved: nothing outside the indexed files is ever handed out)."""
        row = self.store.photos.photo(photo_id, None)
        if row is None:
            raise PhotoNotFoundError(f"No indexed photo has the id {photo_id}.")
        real = os.path.realpath(row.path)
        if real != row.path and self.store.photos.photo_id_of(real) is None:
            raise PhotoNotFoundError(
                f"The photo {photo_id} is a link to a file outside the library."
            )
        if not os.path.isfile(real):
            raise PhotoNotFoundError(
                f"The file of photo {photo_id} is gone: {shown_path(row.path)}"
            )
        return Path(real)

    def thumbnail(self, photo_id: int, size: int = DEFAULT_THUMBNAIL_SIZE) -> Path:
        """A thumbnail of an indexed photo (longest side at most `size` pixels, upright), made
        once and cached on disk; its file name changes when the photo does (an ETag)."""
        check_thumbnail_size(size)
        return self._thumbnails.thumbnail(photo_id, self.photo_file(photo_id), size)

    def is_empty(self) -> bool:
        """Nothing to search yet: no photo indexed, or no model."""
        return self.store.active_model() is None or self.store.vectors.counts()["files_ok"] == 0

    def status(self) -> dict[str, Any]:
        return {
            **library_status(self.store, self.settings),
            "vector_index": self.library.vector_index_status(),
        }

    def folders(self) -> list[str]:
        """The folders holding indexed photos (for a folder filter to choose from)."""
        return self.store.photos.folders()

    def duplicates(
        self, threshold: float | None = None, max_hamming: int | None = None
    ) -> list[DuplicateGroup]:
        """Groups of near-identical photos (see `near_duplicates`), largest groups first."""
        from searchapp.near_duplicates import (
            DEFAULT_MAX_HAMMING,
            DEFAULT_THRESHOLD,
            group_duplicates,
            similar_pairs,
        )
        from searchapp.store.image_facts import embeddings_with_several_files, image_facts

        threshold = DEFAULT_THRESHOLD if threshold is None else threshold
        max_hamming = DEFAULT_MAX_HAMMING if max_hamming is None else max_hamming
        if not 0.0 < threshold <= 1.0:
            raise InvalidQueryError(f"The threshold must lie in (0, 1], not {threshold}.")
        if not 0 <= max_hamming <= 64:
            raise InvalidQueryError(f"max_hamming must lie in [0, 64], not {max_hamming}.")
        model = self.query_model()
        pairs = list(similar_pairs(self.library.live_index(model).current(), threshold))
        identical = embeddings_with_several_files(self.store.engine, model.id)
        wanted = {a for a, _, _ in pairs} | {b for _, b, _ in pairs} | set(identical)
        facts = image_facts(self.store.engine, model.id, sorted(wanted))
        return group_duplicates(pairs, facts, max_hamming, identical)

    def library_map(self, max_points: int | None = None) -> LibraryMap:
        """The library's photos on a 2-D map (PCA of their embeddings), computed once per
        state of the vector index."""
        from searchapp.library_map import (
            MAP_POINTS,
            LibraryMap,
            MapPoint,
            folder_of,
            principal_plane,
            sample_ids,
        )

        model = self.query_model()
        limit = max_points or MAP_POINTS
        index = self.library.vector_index(model)
        key = (model.id, index.revision, index.count, limit)
        with self._model_lock:
            cached = self._maps.get(key)
        if cached is not None:
            return cached
        ids = sample_ids(index.ids(), limit)
        got, vectors = self.store.photos.vectors(ids.tolist(), model.dim)
        coords, explained = principal_plane(vectors)
        rows = self.store.photos.photos_of(got.tolist(), model.id, PhotoFilter())
        labels = self.store.tags.best_labels(got.tolist(), model.id)
        roots = self.store.roots.paths()
        points = []
        for embedding_id, (x, y) in zip(got.tolist(), coords.tolist(), strict=True):
            photos = rows.get(embedding_id)
            if not photos:
                continue
            photo = photos[0]
            folder = folder_of(photo.path, roots)
            points.append(MapPoint(photo.id, x, y, photo.path, folder, labels.get(embedding_id)))
        library_map = LibraryMap(points, index.count, explained)
        with self._model_lock:
            self._maps = {key: library_map}
        return library_map
