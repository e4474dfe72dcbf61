"""The `ray` index runner: `searchapp index PATH --ray [ADDRESS]` as a Ray Data pipeline.

Change detection, removals, failures and the summary are the local pipeline's (`Indexer`);
only reading and embedding move to the cluster:

    files to read (driver, in blocks) ─▶ read + hash + decode (CPU tasks, `decode_batch`)
      ─▶ embed (actor pool `EmbedBatch`: one model load per actor, a GPU each when the
         cluster has GPUs) ─▶ driver: one store transaction per batch (`Store.write_batch`)

Every write is an upsert by path and content hash, and a file is only skipped by a later run
once its batch is committed, so a failed, killed or repeated job never duplicates anything: a
rerun reads what was not committed and nothing else.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from indexer.ignore import IgnoreRules
from indexer.pipeline import Indexer, default_batch_size
from indexer.ray_cluster import RayJobError, check_reachable, ray_session
from indexer.ray_stages import decode_batch, embed_stage, listing_rows, outcomes_of
from searchapp import errors
from searchapp.errors import SearchAppError
from searchapp.indexing import IndexSummary
from searchapp.store import StoredModel
from searchapp.store.records import FileStat

if TYPE_CHECKING:
    from searchapp.config import Settings
    from searchapp.library import Library

log = logging.getLogger(__name__)
ProgressCallback = Callable[[int, int], None]
FILES_PER_BLOCK = 256
"""At most; fewer for a small job, so every CPU gets several blocks (never under a batch)."""
DECODE_CPUS = 1.0
EMBED_CPUS = 0.99
"""Not 1: a stage whose resources differ from the decoding's is never fused into its actors,
so decoding stays on CPU tasks (the embedding actors keep their cores or GPUs for the model)."""
CPU_ACTOR_SHARE = 2
"""Without GPUs, one embedding actor per this many CPUs; the rest decode."""


class RayIndexer(Indexer):
    """The local `Indexer` whose reading and embedding run on a Ray cluster."""

    def __init__(
        self,
        library: Library,
        model: StoredModel,
        ignore: IgnoreRules | None,
        verify: bool,
        reembed: bool,
        address: str | None,
    ) -> None:
        check_reachable(address)
        super().__init__(
            library.store,
            lambda: library.load_for_indexing(model),
            model,
            library.settings,
            input_size=lambda: library.input_size(model),
            ignore=ignore,
            verify=verify,
            reembed=reembed,
        )
        self.library = library
        self.address = address
        self.gpus = 0

    def _process(
        self, todo: list[FileStat], summary: IndexSummary, progress: ProgressCallback | None
    ) -> None:
        if not todo:
            return
        total = len(todo)
        if progress:
            progress(0, total)
        with ray_session(self.address):
            batches = self._pipeline(todo).iter_batches(
                batch_size=self._write_batch_size(), batch_format="numpy", prefetch_batches=1
            )
            done = 0
            for batch in self._guarded(batches, total):
                done += self._write(batch, summary)
                if progress:
                    progress(done, total)
                if self._should_stop():
                    log.info("stopping after the batch in flight (%d of %d done)", done, total)
                    return

    def _write_batch_size(self) -> int:
        if self.settings.batch_size:
            return self.settings.batch_size
        return default_batch_size("cuda" if self.gpus else "cpu")

    def _pipeline(self, todo: Sequence[FileStat]) -> Any:
        """The dataset of outcomes, one row per file to read, built lazily (nothing runs until
        the driver iterates it; Ray Data streams blocks through the stages)."""
        import ray.data

        resources = ray.cluster_resources()
        self.gpus = int(resources.get("GPU", 0)) if self.settings.device != "cpu" else 0
        cpus = max(1, int(resources.get("CPU", 1)))
        actors = self.settings.ray_embed_actors or (self.gpus or max(1, cpus // CPU_ACTOR_SHARE))
        batch_size = self._write_batch_size()
        rows = listing_rows(todo, self._known_hashes)
        per_block = max(batch_size, min(FILES_PER_BLOCK, math.ceil(len(rows) / (4 * cpus))))
        blocks = max(1, math.ceil(len(rows) / per_block))
        input_size = self._input_size_for_decode
        log.info(
            "ray: %d files in %d blocks, %d embedding actors (%s), cluster %s",
            len(rows),
            blocks,
            actors,
            f"{self.gpus} GPUs" if self.gpus else "CPU",
            resources,
        )
        decoded = ray.data.from_items(rows, override_num_blocks=blocks).map_batches(
            decode_batch,
            batch_size=batch_size,
            fn_kwargs={
                "settings": self.settings,
                "input_size": input_size,
                "model_id": self.model.id,
                "verify": self.verify,
                "reembed": self.reembed,
            },
            num_cpus=DECODE_CPUS,
        )
        spec = self.library.model_spec(self.model)
        return decoded.map_batches(
            embed_stage(spec, self.settings, self.model.identity, self.model.dim),
            batch_size=batch_size,
            compute=ray.data.ActorPoolStrategy(size=actors),
            num_cpus=EMBED_CPUS,
            num_gpus=1 if self.gpus else 0,
        )

    def _guarded(self, batches: Any, total: int) -> Iterator[Any]:
        """The job's batches; a failure of the job (not of a write) becomes one line."""
        iterator = iter(batches)
        while True:
            try:
                batch = next(iterator)
            except StopIteration:
                return
            except SearchAppError:
                raise
            except Exception as exc:
                raise self._job_failure(exc, total) from None
            yield batch

    def _job_failure(self, exc: BaseException, total: int) -> SearchAppError:
        """What the user sees when the job stops: the error of ours it carries (a model that
        cannot load, say), or Ray's first line, with what was kept."""
        cause = _our_error(exc)
        if cause is not None:
            return type(cause)(str(cause))
        kept = f"after {self._written} of {total} photos; those {self._written} are saved"
        if self._written == 0:
            kept = f"before the first of {total} photos was saved; the library is as it was"
        first = next((line for line in str(exc).splitlines() if line.strip()), type(exc).__name__)
        return RayJobError(
            f"The Ray job stopped {kept} ({type(exc).__name__}: {first.strip()[:300]}). Run "
            "`searchapp index --ray` again to index the rest."
        )

    def _write(self, batch: Any, summary: IndexSummary) -> int:
        embedded, linked, confirmed, failed = outcomes_of(batch)
        if embedded and not self._activated:
            self._activate()
        self.store.write_batch(self.model.id, embedded, [*linked, *confirmed], failed)
        size = len(embedded) + len(linked) + len(confirmed) + len(failed)
        self._written += size
        summary.embedded += len(embedded)
        summary.linked += len(linked)
        summary.unchanged += len(confirmed)
        for failure in failed:
            log.warning("failed: %s: %s", failure.stat.path, failure.reason)
            summary.failed.append((failure.stat.path, failure.reason))
        log.info(
            "batch written: %d embedded, %d linked, %d failed",
            len(embedded),
            len(linked),
            len(failed),
        )
        return size

    _activated = False

    def _activate(self) -> None:
        """The model loaded on the cluster (it embedded): it is the library's model now."""
        active = self.store.active_model()
        if active is None or active.id != self.model.id:
            self.store.activate_model(self.model.id)
            log.info("library model is now %s", self.model.identity.describe())
        self._activated = True


OUR_ERROR_LINE = re.compile(r"searchapp\.errors\.(\w+): (.+)")


def _our_error(exc: BaseException) -> SearchAppError | None:
    """A SearchAppError raised in a worker, however Ray wrapped it: as a cause, or (an actor that
    died in its constructor) only in the text of Ray's error."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, SearchAppError):
            return current
        cause = getattr(current, "cause", None)
        if isinstance(cause, BaseException) and id(cause) not in seen:
            current = cause
            continue
        current = current.__cause__ or current.__context__
    match = OUR_ERROR_LINE.search(str(exc))
    if match is None:
        return None
    kind = getattr(errors, match.group(1), SearchAppError)
    if not (isinstance(kind, type) and issubclass(kind, SearchAppError)):
        kind = SearchAppError
    return kind(match.group(2).strip())


class RayIndexRunner:
    """The `ray` index runner (see `searchapp.indexing`); the cluster is
    `SEARCHAPP_RAY_ADDRESS` (`index --ray ADDRESS`), a local Ray when unset."""

    def __call__(
        self,
        library: Library,
        model: StoredModel,
        ignore_patterns: Sequence[str],
        verify: bool = False,
        reembed: bool = False,
    ) -> RayIndexer:
        address = library.settings.ray_address
        return RayIndexer(library, model, IgnoreRules(ignore_patterns), verify, reembed, address)

    @staticmethod
    def preflight(settings: Settings) -> None:
        """Ray installed and the cluster answering, checked before anything starts."""
        check_reachable(settings.ray_address)


ray_index_runner = RayIndexRunner()
