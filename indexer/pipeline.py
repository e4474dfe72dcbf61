"""The indexing pipeline: scan → decide what changed → decode in parallel → embed in batches →
write each batch in one transaction → forget what is gone.

Decode workers run ahead of the model in a bounded window, so the model stays busy and memory
stays flat whatever the size of the library. One writer (this thread) owns every store write.
This module runs the stages; `change_detection`, `decode_ahead`, `device_batch_decode`,
`run_summary` and `storage_failure` hold their parts.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import os
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import replace
from typing import TYPE_CHECKING

from sqlalchemy.exc import DBAPIError

from indexer.change_detection import find_changes
from indexer.decode_ahead import (
    decode_ahead_count,
    default_workers,
    files_in_flight,
    lower_thread_priority,
)
from indexer.device_batch_decode import decode_encoded_on_device
from indexer.device_decode import TensorPreprocess, is_jpeg, nvidia_gpu_possible
from indexer.ignore import IgnoreRules
from indexer.records import (
    Batch,
    Confirmed,
    Decoded,
    Encoded,
    Outcome,
    Prepared,
)
from indexer.run_summary import account_written, duplicates_written
from indexer.steady_rate import SteadyRate
from indexer.storage_failure import storage_failure
from searchapp.config import Settings
from searchapp.decode import DecodeError, read_header
from searchapp.errors import DatabaseUnavailableError
from searchapp.image_input import decode_for_model
from searchapp.indexing import IndexSummary
from searchapp.models.base import Embedder
from searchapp.perceptual import perceptual_hash
from searchapp.process_memory import return_freed_heap
from searchapp.store import EmbeddedFile, FailedFile, LinkedFile, Store, StoredModel
from searchapp.store.records import FileStat

if TYPE_CHECKING:
    from searchapp.library import Library

log = logging.getLogger(__name__)
ProgressCallback = Callable[[int, int], None]
PREPROCESS_THREADS = 2


def content_hash(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=20).hexdigest()


def default_batch_size(device: str) -> int:
    return 128 if device == "cuda" else 32


class Indexer:
    """Indexes folders into `store` with `model`.

    The embedder is loaded only if some file needs it, and then in the background: a decode worker
    goes on decoding photos while torch, open_clip and the weights load, and what it decoded is
    preprocessed once they have. `input_size` reads the model's input size from its architecture,
    so the reduced-scale JPEG decode need not wait for the model; it is called only if some file
    needs decoding, so a no-op re-index never looks at the model at all.

    `should_stop` is asked after each batch is written: when it says yes, the run ends there
    (the background indexer's graceful shutdown); what was committed stays.

    A file whose size, mtime, ctime and inode are as indexed is not read. With `verify`, every
    file is read and hashed again, and one whose content changed is embedded; with `reembed`,
    every file is read and embedded again (each distinct content once).
    """

    @classmethod
    def for_library(
        cls,
        library: Library,
        model: StoredModel,
        ignore: IgnoreRules | None = None,
        should_stop: Callable[[], bool] | None = None,
        verify: bool = False,
        reembed: bool = False,
    ) -> Indexer:
        """An indexer for the library's store and settings that loads `model` only when a photo
        needs embedding (which makes it the library's model) and reads its input size lazily."""
        return cls(
            library.store,
            lambda: library.load_for_indexing(model),
            model,
            library.settings,
            input_size=lambda: library.input_size(model),
            ignore=ignore,
            should_stop=should_stop,
            verify=verify,
            reembed=reembed,
        )

    def __init__(
        self,
        store: Store,
        load_embedder: Callable[[], Embedder],
        model: StoredModel,
        settings: Settings,
        input_size: Callable[[], int | None] | None = None,
        ignore: IgnoreRules | None = None,
        should_stop: Callable[[], bool] | None = None,
        verify: bool = False,
        reembed: bool = False,
    ) -> None:
        self.store = store
        self.verify = verify
        self.reembed = reembed
        self._known_hashes: dict[str, str | None] = {}
        self._reembedded: set[str] = set()
        self._written = 0
        self._written_contents: Counter[str] = Counter()
        self.ignore = ignore
        self._should_stop = should_stop or (lambda: False)
        self.model = model
        self.settings = settings
        self._load_embedder = load_embedder
        self._loading: Future[Embedder] | None = None
        self._loading_lock = threading.Lock()
        self._input_size = input_size
        self.workers = settings.decode_workers or default_workers()
        self._late_preprocess: ThreadPoolExecutor | None = None
        # While torch and the weights load (one busy core, holding the GIL), one decoder at a
        # time uses the other core; more would only slow the load down by contending for the GIL.
        self._decode_while_loading = threading.Semaphore(1)

    def _start_loading(self) -> None:
        with self._loading_lock:
            if self._loading is not None:
                return
            loader = ThreadPoolExecutor(1, thread_name_prefix="model-load")
            self._loading = loader.submit(self._load_embedder)
            loader.shutdown(wait=False)

    def preload(self) -> None:
        """Start loading the model now, in the background, rather than at the first photo."""
        self._start_loading()

    @property
    def embedder(self) -> Embedder:
        """The loaded model; waits for the background load (and re-raises its error)."""
        self._start_loading()
        assert self._loading is not None
        return self._loading.result()

    @property
    def _model_ready(self) -> bool:
        return self._loading is not None and self._loading.done()

    @property
    def model_ready(self) -> bool:
        """Whether the model has finished loading (`embedder` then returns it or raises)."""
        return self._model_ready

    @property
    def batch_size(self) -> int:
        if self.settings.batch_size:
            return self.settings.batch_size
        return default_batch_size(self.embedder.device if self._model_ready else "cpu")

    @functools.cached_property
    def _input_size_for_decode(self) -> int | None:
        if not self.settings.fast_jpeg_decode:
            return None
        known = self._input_size() if self._input_size is not None else None
        return known or self.embedder.input_size

    @functools.cached_property
    def _device_preprocess(self) -> TensorPreprocess | None:
        """Set when JPEGs are decoded on the GPU; known without waiting for the model when no
        NVIDIA driver is loaded, so CPU decoding can start while the model loads."""
        if not self.settings.gpu_jpeg_decode or self.settings.device == "cpu":
            return None
        if not nvidia_gpu_possible():
            return None
        params = self.embedder.tensor_preprocess
        if self.embedder.device != "cuda" or params is None:
            return None
        log.info("decoding JPEGs on %s in batches (nvJPEG)", self.embedder.device)
        return TensorPreprocess(*params)

    def _prepare(self, stat: FileStat) -> Outcome:
        """Runs in a decode worker: read once, hash, and decode only content not yet embedded."""
        limit_mb = self.settings.max_file_megabytes
        if stat.size > limit_mb * 1e6:
            return FailedFile(
                stat,
                f"refused: {stat.size / 1e6:.0f} MB is over the {limit_mb:.0f} MB limit for one "
                "image file (SEARCHAPP_MAX_FILE_MEGABYTES)",
            )
        try:
            with open(stat.path, "rb") as fh:
                data = fh.read()
        except OSError as exc:
            return FailedFile(stat, f"cannot read: {exc.strerror or exc}")
        digest = content_hash(data)
        must_embed = self.reembed and digest not in self._reembedded
        if not must_embed and self.store.is_embedded(digest, self.model.id):
            if self.verify and self._known_hashes.get(stat.path) == digest:
                return Confirmed(stat, digest)
            return LinkedFile(stat, digest)
        if is_jpeg(data) and self._device_preprocess is not None:
            try:
                header = read_header(data, self.settings.max_image_megapixels)
            except DecodeError as exc:
                return FailedFile(stat, str(exc))
            if header.image.format == "JPEG" and header.image.mode in {"RGB", "L"}:
                return Encoded(stat, digest, header.meta, data)
        if self._model_ready:
            return self._decode_on_cpu(stat, digest, data)
        with self._decode_while_loading:
            return self._decode_on_cpu(stat, digest, data)

    def _decode_on_cpu(
        self, stat: FileStat, digest: str, data: bytes
    ) -> Prepared | Decoded | FailedFile:
        """Decode; preprocess too once the model is loaded (before that, hand the picture
        back, so workers keep decoding ahead instead of waiting for the model)."""
        try:
            decoded = decode_for_model(data, self.settings, self._input_size_for_decode, stat.path)
        except DecodeError as exc:
            return FailedFile(stat, str(exc))
        except Exception as exc:  # a decoder bug must cost one file, never the run
            log.exception("unexpected error decoding %s", stat.path)
            return FailedFile(stat, f"could not decode: {type(exc).__name__}: {exc}")
        meta = replace(decoded.meta, phash=perceptual_hash(decoded.image))
        picture = Decoded(stat, digest, meta, decoded.image)
        if not self._model_ready:
            self._start_loading()
            return picture
        return self._preprocess(picture)

    def _preprocess(self, picture: Decoded) -> Prepared | FailedFile:
        embedder = self.embedder  # a model that fails to load fails the run, not the file
        try:
            pixels = embedder.preprocess(picture.image)
        except Exception as exc:
            log.exception("unexpected error preprocessing %s", picture.stat.path)
            return FailedFile(picture.stat, f"could not preprocess: {type(exc).__name__}: {exc}")
        return Prepared(picture.stat, picture.content_hash, picture.meta, pixels)

    def _changed(
        self, roots: Sequence[str], summary: IndexSummary
    ) -> tuple[list[FileStat], list[FailedFile], list[str]]:
        """What must be read: new, modified and not-yet-embedded files; and what is gone."""
        changes, self._known_hashes = find_changes(
            self.store, self.model.id, roots, self.ignore, self.verify or self.reembed, summary
        )
        return changes

    def changes(self, roots: Iterable[str]) -> tuple[list[FileStat], list[FailedFile], list[str]]:
        """A scan only: files under `roots` to (re)read, files that cannot be read, and known
        paths that are gone."""
        return self._changed([os.path.abspath(r) for r in roots], IndexSummary())

    def run(self, roots: Iterable[str], progress: ProgressCallback | None = None) -> IndexSummary:
        started = time.perf_counter()
        summary = IndexSummary()
        root_list = [os.path.abspath(root) for root in roots]
        todo, unreadable, gone = self._changed(root_list, summary)
        log.info(
            "%d files scanned: %d to read, %d unchanged, %d gone",
            summary.scanned,
            len(todo),
            summary.unchanged,
            len(gone),
        )
        self._written = 0
        self._written_contents = Counter()
        try:
            if unreadable:
                self.store.write_batch(self.model.id, failed=unreadable)
                summary.failed.extend((f.stat.path, f.reason) for f in unreadable)
            self._process(todo, summary, progress)
            summary.removed = self.store.remove_files(gone)
            summary.duplicates = duplicates_written(self.store, self._written_contents)
            self.store.drop_other_models(self.model.id)
            if any(os.path.isdir(root) for root in root_list):
                self.store.record_skipped_formats(summary.skipped_formats)
        except (DBAPIError, OSError, DatabaseUnavailableError) as exc:
            raise storage_failure(self.store, exc, self._written, len(todo)) from None
        summary.seconds = time.perf_counter() - started
        return summary

    def _process(
        self, todo: list[FileStat], summary: IndexSummary, progress: ProgressCallback | None
    ) -> None:
        if not todo:
            return
        total = len(todo)
        done = 0
        if progress:
            progress(done, total)
        batch = Batch()
        steady = SteadyRate()
        pending: deque[Future[Outcome]] = deque()
        queue = iter(todo)
        with (
            ThreadPoolExecutor(
                self.workers, thread_name_prefix="decode", initializer=lower_thread_priority
            ) as pool,
            ThreadPoolExecutor(PREPROCESS_THREADS, thread_name_prefix="preprocess") as late,
        ):
            self._late_preprocess = late
            while True:
                while len(pending) < self._window():
                    next_stat = next(queue, None)
                    if next_stat is None:
                        break
                    pending.append(pool.submit(self._prepare, next_stat))
                if not pending:
                    break
                batch.add(pending.popleft().result())
                if batch.to_embed >= self.batch_size or batch.other_count >= self.batch_size:
                    done += self._flush(batch, summary)
                    batch = Batch()
                    steady.note(summary.embedded)
                    if progress:
                        progress(done, total)
                    if self._should_stop():
                        log.info("stopping after the batch in flight (%d of %d done)", done, total)
                        for future in pending:
                            future.cancel()
                        return
            done += self._flush(batch, summary)
            steady.note(summary.embedded)
            summary.steady_images_per_s = steady.rate()
            if progress:
                progress(done, total)

    def _window(self) -> int:
        """How many files may be in flight (see `files_in_flight`)."""
        return files_in_flight(self.batch_size, self.workers, self._model_ready, self._decode_ahead)

    @functools.cached_property
    def _decode_ahead(self) -> int:
        return decode_ahead_count(self.settings, self._input_size_for_decode)

    def _flush(self, batch: Batch, summary: IndexSummary) -> int:
        if batch.size == 0:
            return 0
        embedded: list[EmbeddedFile] = []
        if batch.decoded:
            pictures, batch.decoded = batch.decoded, []
            assert self._late_preprocess is not None
            for outcome in self._late_preprocess.map(self._preprocess, pictures):
                batch.add(outcome)
        if batch.encoded:
            preprocess = self._device_preprocess
            assert preprocess is not None
            decode_encoded_on_device(batch, self.embedder.device, preprocess, self._decode_on_cpu)
        if batch.prepared:
            vectors = self.embedder.encode_images([item.pixels for item in batch.prepared])
            embedded = [
                EmbeddedFile(item.stat, item.content_hash, item.meta, vector)
                for item, vector in zip(batch.prepared, vectors, strict=True)
            ]
        self.store.write_batch(
            self.model.id, embedded, [*batch.linked, *batch.confirmed], batch.failed
        )
        self._written += batch.size
        self._written_contents.update(item.content_hash for item in embedded)
        self._written_contents.update(item.content_hash for item in batch.linked)
        if self.reembed:
            self._reembedded.update(item.content_hash for item in embedded)
        account_written(summary, batch, embedded)
        return_freed_heap()  # the batch's pictures, out of the decode workers' arenas
        return batch.size


def local_index_runner(
    library: Library,
    model: StoredModel,
    ignore_patterns: Sequence[str],
    verify: bool = False,
    reembed: bool = False,
) -> Indexer:
    """The `local` index runner (see `searchapp.indexing`): this machine's pipeline."""
    return Indexer.for_library(
        library, model, ignore=IgnoreRules(ignore_patterns), verify=verify, reembed=reembed
    )
