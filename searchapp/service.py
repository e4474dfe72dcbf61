"""The application layer: one `LibraryService` per library owns every use case. The CLI, the
HTTP API and the UI parse their input, call it and render what it returns; it never prints.

It loads a model at most once, whatever the number of threads asking at the same moment, and
is safe to share between the threads of a server.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from searchapp.config import Settings
from searchapp.errors import InvalidQueryError, PhotoNotFoundError, SearchAppError
from searchapp.indexing import IndexSummary, ProgressCallback, index_runner
from searchapp.library import Library
from searchapp.models.base import ModelSpec
from searchapp.query import (
    ImageFileTerm,
    PhotoTerm,
    Query,
    Term,
    TextTerm,
    VectorTerm,
    WeightedTerm,
    combine,
)
from searchapp.search import (
    PhotoHit,
    Ranker,
    SearchOptions,
    SearchResponse,
    Stopwatch,
    hit_of,
)
from searchapp.service_status import PhotoDetails, library_status, photo_details
from searchapp.service_vlm import VisionAssistant
from searchapp.store.photo_queries import PhotoFilter
from searchapp.thumbnails import DEFAULT_SIZE as DEFAULT_THUMBNAIL_SIZE
from searchapp.thumbnails import ThumbnailCache
from searchapp.thumbnails import check_size as check_thumbnail_size

if TYPE_CHECKING:
    from searchapp.doctor import DoctorReport
    from searchapp.indexing import IndexRunner
    from searchapp.library_map import LibraryMap
    from searchapp.models.base import Embedder, TextEncoder
    from searchapp.near_duplicates import DuplicateGroup
    from searchapp.store import StoredModel
    from searchapp.tagging.tagger import TagRun
    from searchapp.tagging.vocabulary import LabelList
    from searchapp.vector_base import BuildProgress

log = logging.getLogger(__name__)
SEARCH_STAGES = ("encode", "index", "vector_search", "metadata", "rank")


@dataclass(frozen=True)
class IndexRequest:
    model: ModelSpec | None = None
    reindex: bool = False
    """Read and re-embed every photo (with `model`, when it is another one)."""
    tag: bool = True
    verify: bool = False
    """Read and hash every photo again and re-embed those whose content changed."""
    runner: str = "local"


@dataclass
class IndexReport:
    """`searchable_seconds`: from the start of the run until every photo of it is committed and
    in the vector index; `tagged_seconds`: until new photos are tagged too. `runtime` is what
    embedded (e.g. `onnx fp32`), with the calibration's images/s when one ran."""

    summary: IndexSummary
    tagging: list[TagRun] = field(default_factory=list)
    tagging_skipped: str | None = None
    searchable_seconds: float = 0.0
    tagged_seconds: float | None = None
    runtime: str | None = None
    runtime_source: str | None = None
    calibration: dict[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict[str, object]:
        tagged = self.tagged_seconds
        return {
            **self.summary.as_dict(),
            "tagging": [run.as_dict() for run in self.tagging],
            "tagging_skipped": self.tagging_skipped,
            "searchable_seconds": round(self.searchable_seconds, 3),
            "tagged_seconds": None if tagged is None else round(tagged, 3),
            "runtime": self.runtime,
            "runtime_source": self.runtime_source,
            "calibration_images_per_s": self.calibration,
        }


@dataclass(frozen=True)
class TagReport:
    run: TagRun
    labels: int
    duplicates_dropped: int
    replaced_earlier_tags: bool

    def as_dict(self) -> dict[str, object]:
        return {
            **self.run.as_dict(),
            "labels": self.labels,
            "duplicates_dropped": self.duplicates_dropped,
            "replaced_earlier_tags": self.replaced_earlier_tags,
        }


class LibraryService:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.library = Library(settings)
        self.store = self.library.store
        self._model_lock = threading.RLock()
        self._rankers: dict[int, Ranker] = {}
        self._maps: dict[tuple[object, ...], LibraryMap] = {}
        self.vision = VisionAssistant(settings, self.store, self.photo_file)
        """Captions and questions (searchapp.service_vlm); its model loads on first use."""
        self._thumbnails = ThumbnailCache(
            settings.thumbnails_dir,
            settings.max_image_megapixels,
            int(settings.max_file_megabytes * 1e6),
        )

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

    # -- models -----------------------------------------------------------------------------

    def query_model(self, requested: ModelSpec | None = None) -> StoredModel:
        return self.library.query_model(requested)

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

    # -- health -----------------------------------------------------------------------------

    @staticmethod
    def doctor(settings: Settings, repair: bool = False) -> DoctorReport:
        """Check the library's store, vector index, files and model; with `repair`, rebuild
        what is damaged (see `searchapp.doctor`). Static: a damaged library cannot be opened
        as a service."""
        from searchapp.doctor import examine

        return examine(settings, repair)

    # -- indexing ---------------------------------------------------------------------------

    def index_runner(
        self, model: StoredModel, request: IndexRequest = IndexRequest()
    ) -> IndexRunner:
        factory = index_runner(request.runner)
        patterns = self.store.roots.ignore_patterns()
        return factory(self.library, model, patterns, request.verify, request.reindex)

    def check_can_index(self, writer: str = "searchapp index") -> None:
        """Refuse now, before any progress is shown, when the library is read-only or another
        indexer is writing it (the same errors `index` would raise)."""
        from searchapp.writer_lock import WriterLock

        WriterLock(self.settings.data_dir, writer).release()

    @staticmethod
    def check_index_paths(paths: Sequence[Path]) -> None:
        """Refuse paths that cannot be indexed, before anything starts."""
        for path in paths:
            if not path.exists():
                raise SearchAppError(f"No such file or folder: {path}")
            try:
                str(path.absolute()).encode("utf-8")
            except UnicodeEncodeError:
                raise SearchAppError(
                    f"The path {os.fsencode(path)!r} is not valid UTF-8; rename it to index it."
                ) from None

    def index(
        self,
        paths: Sequence[Path],
        request: IndexRequest = IndexRequest(),
        progress: ProgressCallback | None = None,
        writer: str = "searchapp index",
        build_progress: BuildProgress | None = None,
        on_searchable: Callable[[IndexReport], None] | None = None,
    ) -> IndexReport:
        """Index folders or files: new and changed photos are embedded, gone ones forgotten;
        then the vector index is brought up to date (rebuilt, with `build_progress`, when the
        library crossed SEARCHAPP_ANN_MIN_PHOTOS or much changed) and, unless `request.tag` is
        off, new photos are tagged (`tag_new_photos`). Photos are searchable before tagging
        starts (`on_searchable` is called then); a crash during tagging keeps them, and the
        next run tags what is left."""
        import time

        from searchapp.writer_lock import WriterLock

        started = time.perf_counter()
        self.check_index_paths(paths)
        with WriterLock(self.settings.data_dir, writer):
            model = self.library.indexing_model(request.model, request.reindex)
            summary = self.index_runner(model, request).run([str(p) for p in paths], progress)
            self.library.live_index(model).build_now(build_progress)
            report = IndexReport(summary, searchable_seconds=time.perf_counter() - started)
            choice = self.library.runtime_choice
            if choice is not None:
                report.runtime, report.runtime_source = choice.label, choice.source
                report.calibration = dict(choice.images_per_s)
            if request.tag and self.settings.auto_tag:
                if on_searchable is not None:
                    on_searchable(report)
                report.tagging, report.tagging_skipped = self.tag_new_photos()
                report.tagged_seconds = time.perf_counter() - started
        return report

    def tag_new_photos(self) -> tuple[list[TagRun], str | None]:
        """The one auto-tag policy, after any index run: every stored vocabulary (the default
        one at least) tags the photos embedded since. Tagging is an extra: a failure is
        returned as a reason, never undoes the indexing."""
        from searchapp.tagging.tagger import Tagger

        model = self.store.active_model()
        if model is None:
            return [], None
        try:
            return Tagger(self.library, model).tag_new_images(), None
        except SearchAppError as exc:
            log.warning("automatic tagging skipped: %s", exc)
            return [], str(exc)
        except Exception as exc:
            log.warning("automatic tagging skipped: %s", exc, exc_info=True)
            return [], f"{type(exc).__name__}: {exc}"

    # -- search -----------------------------------------------------------------------------

    def _ranker(self, model: StoredModel) -> Ranker:
        with self._model_lock:
            ranker = self._rankers.get(model.id)
            if ranker is None:
                ranker = Ranker(
                    self.store,
                    model,
                    lambda: self.library.vector_index(model),
                    lambda: self.library.rebuild_vector_index(model),
                )
                self._rankers[model.id] = ranker
            return ranker

    def search(
        self,
        query: Query | str,
        photo_filter: PhotoFilter = PhotoFilter(),
        options: SearchOptions = SearchOptions(),
        requested_model: ModelSpec | None = None,
    ) -> SearchResponse:
        """Photos matching a query (a text, or combined terms), best first or newest first."""
        if isinstance(query, str):
            query = Query.text(query)
        model = self.query_model(requested_model)
        timings: dict[str, float] = {}
        clock = Stopwatch(timings)
        vector = self.query_vector(query, model)
        clock.lap("encode")
        text = " ".join(w.term.text for w in query.positive if isinstance(w.term, TextTerm))
        response = self._ranker(model).rank(vector, photo_filter, options, timings, text)
        for stage in SEARCH_STAGES:
            timings.setdefault(stage, 0.0)  # a stage skipped (nothing to search) took no time
        timings["total"] = sum(timings.values())
        return response

    def search_upload(
        self,
        data: bytes,
        name: str,
        photo_filter: PhotoFilter = PhotoFilter(),
        options: SearchOptions = SearchOptions(),
    ) -> SearchResponse:
        """Photos that look like an uploaded picture (`name`: how messages refer to it); its
        decode and encode count in the `encode` timing."""
        started = time.perf_counter()
        vector = self.image_bytes_vector(data, name)
        encode_ms = (time.perf_counter() - started) * 1000
        response = self.search(Query((WeightedTerm(VectorTerm(vector)),)), photo_filter, options)
        response.timings["encode"] = response.timings.get("encode", 0.0) + encode_ms
        response.timings["total"] = response.timings.get("total", 0.0) + encode_ms
        return response

    def query_vector(self, query: Query, model: StoredModel) -> NDArray[np.float32]:
        texts = [w.term.text for w in query.terms if isinstance(w.term, TextTerm)]
        encoded: dict[str, NDArray[np.float32]] = {}
        if texts:
            encoded = dict(zip(texts, self.text_encoder(model).encode_texts(texts), strict=True))

        def vector_of(term: Term) -> NDArray[np.float32]:
            if isinstance(term, TextTerm):
                return encoded[term.text]
            if isinstance(term, ImageFileTerm):
                return self.image_vector(term.path, model)
            if isinstance(term, PhotoTerm):
                return self.photo_vector(term.photo_id, model)
            assert isinstance(term, VectorTerm)
            vector = np.asarray(term.vector, dtype=np.float32).reshape(-1)
            if vector.shape != (model.dim,):
                raise InvalidQueryError(
                    f"A query vector must have {model.dim} numbers for this library's model."
                )
            return vector

        return combine(
            [(w.weight, vector_of(w.term)) for w in query.positive],
            [(w.weight, vector_of(w.term)) for w in query.negative],
        )

    def image_vector(self, path: Path, model: StoredModel | None = None) -> NDArray[np.float32]:
        """The stored vector of an indexed, unchanged file; otherwise the file embedded now."""
        from searchapp.image_input import read_query_image

        model = model or self.query_model()
        absolute = os.path.abspath(path)
        st, data = read_query_image(Path(absolute), self.settings)
        stored = self.store.stored_vector(
            absolute, st.st_size, st.st_mtime_ns, model.id, st.st_ctime_ns, st.st_ino
        )
        if stored is not None:
            vector: NDArray[np.float32] = stored
            return vector
        return self.image_bytes_vector(data, str(path), model)

    def image_bytes_vector(
        self, data: bytes, name: str, model: StoredModel | None = None
    ) -> NDArray[np.float32]:
        """An uploaded picture embedded now (`name` is how messages refer to it)."""
        from searchapp.image_input import embed_image

        model = model or self.query_model()
        with self._model_lock:
            encoder = self.library.image_encoder(model)
        return embed_image(encoder, data, self.settings, name)

    def photo_vector(self, photo_id: int, model: StoredModel | None = None) -> NDArray[np.float32]:
        model = model or self.query_model()
        row = self.store.photos.photo(photo_id, model.id)
        if row is None or row.embedding_id < 0:
            raise PhotoNotFoundError(f"No indexed photo has the id {photo_id}.")
        _, vectors = self.store.photos.vectors([row.embedding_id], model.dim)
        vector: NDArray[np.float32] = vectors[0]
        return vector

    # -- photos, status ---------------------------------------------------------------------

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
            raise PhotoNotFoundError(f"The file of photo {photo_id} is gone: {row.path}")
        return Path(real)

    def thumbnail(self, photo_id: int, size: int = DEFAULT_THUMBNAIL_SIZE) -> Path:
        """A thumbnail of an indexed photo (longest side at most `size` pixels, upright), made
        once and cached on disk; its file name changes when the photo does (an ETag)."""
        check_thumbnail_size(size)
        return self._thumbnails.thumbnail(photo_id, self.photo_file(photo_id), size)

    def is_empty(self) -> bool:
        """Nothing to search yet: no photo indexed, or no model."""
        return self.store.active_model() is None or self.store.counts()["files_ok"] == 0

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
        pairs = list(similar_pairs(self.library.vector_index(model), threshold))
        identical = embeddings_with_several_files(self.store.engine, model.id)
        wanted = {a for a, _, _ in pairs} | {b for _, b, _ in pairs} | set(identical)
        facts = image_facts(self.store.engine, model.id, sorted(wanted))
        return group_duplicates(pairs, facts, max_hamming, identical)

    def status(self) -> dict[str, Any]:
        return {
            **library_status(self.store, self.settings),
            "vector_index": self.library.vector_index_status(),
        }

    # -- tags -------------------------------------------------------------------------------

    def tag_counts(self, vocabulary: str | None = None) -> list[tuple[str, str, int]]:
        """(vocabulary, label, photos) for every tag, most frequent first."""
        counts = self.store.tags.counts(self.query_model().id)
        return [row for row in counts if vocabulary is None or row[0] == vocabulary]

    def folders(self) -> list[str]:
        """The folders holding indexed photos (for a folder filter to choose from)."""
        return self.store.photos.folders()

    def photos_tagged(self, label: str, limit: int = 60, offset: int = 0) -> list[PhotoHit]:
        """Browse by tag: the photos carrying `label`, each hit's score its tag score."""
        model = self.query_model()
        rows = self.store.photos.tagged(label, model.id, limit, offset)
        return [hit_of(row, score) for row, score in rows]

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
        key = (model.id, index.manifest.revision, index.count, limit)
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

    def tag(
        self,
        labels: LabelList,
        templates: tuple[str, ...] | None = None,
        threshold: float | None = None,
        top_k: int | None = None,
        source: str | None = None,
        progress: Callable[[int, int], None] | None = None,
    ) -> TagReport:
        """Store the vocabulary and tag every photo with its labels that fit."""
        from searchapp.tagging.tagger import Tagger

        tagger = Tagger(self.library, self.query_model())
        vocabulary, replaced = tagger.use_vocabulary(labels, templates, threshold, top_k, source)
        run = tagger.tag(vocabulary, progress)
        return TagReport(run, len(labels.labels), labels.duplicates_dropped, replaced)

    def classify(
        self,
        vector: NDArray[np.float32],
        labels: LabelList | None = None,
        templates: tuple[str, ...] | None = None,
        top_k: int = 10,
    ) -> list[tuple[str, float]]:
        """The vocabulary's labels ranked for one image vector (`image_vector`, `photo_vector`,
        `image_bytes_vector`); nothing is stored."""
        from searchapp.tagging.tagger import Tagger

        return Tagger(self.library, self.query_model()).classify(vector, labels, templates)[:top_k]

    # -- roots ------------------------------------------------------------------------------

    def add_root(self, path: Path) -> tuple[str, bool]:
        from searchapp.roots import normalise_root

        root = normalise_root(str(path))
        return root, self.store.roots.add(root)

    def remove_root(self, path: Path) -> tuple[str, int | None]:
        """Remove a root and forget its photos; None when it was not a root."""
        from searchapp.roots import forget_root

        root = os.path.abspath(os.path.expanduser(str(path)))
        if not self.store.roots.remove(root):
            return root, None
        return root, forget_root(self.store, root, self.store.roots.paths())

    def roots(self) -> tuple[list[str], list[str]]:
        return self.store.roots.paths(), self.store.roots.ignore_patterns()

    def ignore(self, pattern: str) -> bool:
        return self.store.roots.add_ignore_pattern(pattern)

    def unignore(self, pattern: str) -> bool:
        return self.store.roots.remove_ignore_pattern(pattern)
