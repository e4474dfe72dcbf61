"""The indexing pipeline: scan → decide what changed → decode in parallel → embed in batches →
write each batch in one transaction → forget what is gone.

Decode workers run ahead of the model in a bounded window, so the model stays busy and memory
stays flat whatever the size of the library. One writer (this thread) owns every store write.
"""

from __future__ import annotations

import contextlib
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

from indexer.device_decode import (
    TensorPreprocess,
    decode_jpegs,
    is_jpeg,
    nvidia_gpu_possible,
)
from indexer.ignore import IgnoreRules
from indexer.records import (
    Batch,
    Confirmed,
    Decoded,
    Encoded,
    Outcome,
    Prepared,
)
from indexer.scan import SkippedFolder, SkippedFormat, Unreadable, scan
from indexer.steady_rate import SteadyRate
from searchapp.config import Settings
from searchapp.decode import DecodeError, read_header
from searchapp.errors import DamagedLibraryError, DatabaseUnavailableError, StorageFullError
from searchapp.image_input import decode_for_model, draft_size
from searchapp.indexing import IndexSummary
from searchapp.models.base import Embedder
from searchapp.perceptual import perceptual_hash
from searchapp.store import EmbeddedFile, FailedFile, LinkedFile, Store, StoredModel
from searchapp.store.failures import damage_of, damaged_message, is_disk_full, storage_error
from searchapp.store.records import FileStat

if TYPE_CHECKING:
    from searchapp.library import Library

log = logging.getLogger(__name__)
ProgressCallback = Callable[[int, int], None]
DECODE_NICENESS = 10
PREPROCESS_THREADS = 2
DECODE_AHEAD_BYTES = 256 * 2**20
PHOTO_BYTES = 3 * 12_000_000  # a 12 MP photo decoded in full


def content_hash(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=20).hexdigest()


def default_batch_size(device: str) -> int:
    return 128 if device == "cuda" else 32


def default_workers() -> int:
    """Two more decode workers than cores, so that reads blocked on disk leave no core idle."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return (cores or 1) + 2


def _lower_thread_priority() -> None:
    """Decode workers yield the CPU to the model's threads: on a small machine the model's
    parallel kernels otherwise stall at their barriers whenever a decode thread preempts one."""
    with contextlib.suppress(AttributeError, OSError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), DECODE_NICENESS)


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
        known = self.store.known_files(roots, self.model.id)
        self._known_hashes = {path: file.content_hash for path, file in known.items()}
        read_all = self.verify or self.reembed
        todo: list[FileStat] = []
        unreadable: list[FailedFile] = []
        seen: set[str] = set()
        skipped: list[str] = []
        for entry in scan(roots, self.ignore):
            if isinstance(entry, SkippedFormat):
                earlier = summary.skipped_formats.get(entry.extension, {}).get("count", 0)
                count = earlier + 1 if isinstance(earlier, int) else 1
                summary.skipped_formats[entry.extension] = {"count": count, "needs": entry.needs}
                continue
            if isinstance(entry, SkippedFolder):
                skipped.append(entry.path.rstrip("/") + "/")
                continue
            summary.scanned += 1
            seen.add(entry.path)
            previous = known.get(entry.path)
            if isinstance(entry, Unreadable):
                if previous is None or previous.status != "failed":
                    unreadable.append(FailedFile(FileStat(entry.path, 0, 0), entry.reason))
                else:
                    summary.unchanged += 1
                continue
            if (
                not read_all
                and previous is not None
                and previous.matches(entry)
                and (previous.status == "failed" or previous.embedded)
            ):
                summary.unchanged += 1
                continue
            todo.append(entry)
        gone = [
            path
            for path in known
            if path not in seen and not any(path.startswith(folder) for folder in skipped)
        ]
        summary.skipped_folders = [folder.rstrip("/") for folder in skipped]
        return todo, unreadable, gone

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
            summary.duplicates = self._duplicates()
            self.store.drop_other_models(self.model.id)
            if any(os.path.isdir(root) for root in root_list):
                self.store.record_skipped_formats(summary.skipped_formats)
        except (DBAPIError, OSError, DatabaseUnavailableError) as exc:
            raise self._storage_failure(exc, len(todo)) from None
        summary.seconds = time.perf_counter() - started
        return summary

    def _duplicates(self) -> int:
        """Byte-identical copies among this run's files: per content, the files written now,
        at most the library's files of it less one (a moved file is not a copy)."""
        from searchapp.store.image_facts import files_per_content

        held = files_per_content(self.store.engine, list(self._written_contents))
        return sum(
            min(written, held.get(digest, 0) - 1)
            for digest, written in self._written_contents.items()
            if held.get(digest, 0) > 1
        )

    def _storage_failure(self, exc: BaseException, total: int) -> Exception:
        """One line for a failed write: what is full or damaged, and what was kept."""
        path = self.store.path
        kept = f"after {self._written} of {total} photos; those {self._written} are saved"
        if self._written == 0:
            kept = f"before the first of {total} photos was saved; the library is as it was"
        if isinstance(exc, DatabaseUnavailableError):
            return DatabaseUnavailableError(f"Indexing stopped {kept}. {exc}")
        if path is None:  # PostgreSQL: not a disk of ours; its own message says what failed
            return exc if isinstance(exc, Exception) else RuntimeError(str(exc))
        if is_disk_full(exc, path.parent):
            return StorageFullError(
                f"Disk full {kept}. Free space on the disk holding {path.parent} and run "
                "`searchapp index` again to index the rest."
            )
        problem = damage_of(self.store)
        if problem is not None:
            return DamagedLibraryError(damaged_message(path, problem))
        failure = storage_error(exc, path)
        if failure is None:
            return exc if isinstance(exc, Exception) else RuntimeError(str(exc))
        return type(failure)(f"Indexing stopped {kept}. {failure}")

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
                self.workers, thread_name_prefix="decode", initializer=_lower_thread_priority
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

    def _decode_encoded_on_device(self, batch: Batch) -> None:
        """Turn the batch's JPEGs into device tensors; a JPEG the device decoder rejects goes
        through the CPU decoder, which says what is wrong with it."""
        preprocess = self._device_preprocess
        assert preprocess is not None
        items = batch.encoded
        batch.encoded = []
        device = self.embedder.device
        orientations = [item.meta.orientation for item in items]
        try:
            pixels = list(decode_jpegs([i.data for i in items], orientations, device, preprocess))
        except RuntimeError:
            log.info("batch JPEG decode on %s failed; decoding one by one", device)
            for item in items:
                try:
                    pixels = list(
                        decode_jpegs([item.data], [item.meta.orientation], device, preprocess)
                    )
                except RuntimeError:
                    batch.add(self._decode_on_cpu(item.stat, item.content_hash, item.data))
                else:
                    batch.add(Prepared(item.stat, item.content_hash, item.meta, pixels[0]))
            return
        for item, tensor in zip(items, pixels, strict=True):
            batch.prepared.append(Prepared(item.stat, item.content_hash, item.meta, tensor))

    def _window(self) -> int:
        """How many files may be in flight: enough to keep the model fed; while the model is
        still loading, more, so decoding gets ahead, as many as DECODE_AHEAD_BYTES of decoded
        pictures allow (they wait as pictures, not yet as the model's smaller input)."""
        steady = self.batch_size * 2 + self.workers
        if self._model_ready:
            return steady
        return max(steady, min(self.batch_size * 8 + self.workers, self._decode_ahead))

    @functools.cached_property
    def _decode_ahead(self) -> int:
        draft = draft_size(self.settings, self._input_size_for_decode)
        picture = PHOTO_BYTES if draft is None else 9 * draft * draft  # 4:3, side ~1.5 × draft
        return DECODE_AHEAD_BYTES // picture

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
            self._decode_encoded_on_device(batch)
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
        summary.embedded += len(embedded)
        summary.linked += len(batch.linked)
        summary.unchanged += len(batch.confirmed)
        for failure in batch.failed:
            log.warning("failed: %s: %s", failure.stat.path, failure.reason)
            summary.failed.append((failure.stat.path, failure.reason))
        log.info(
            "batch written: %d embedded, %d linked, %d failed",
            len(embedded),
            len(batch.linked),
            len(batch.failed),
        )
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
