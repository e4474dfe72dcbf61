"""Indexing use cases of the application layer: index folders (the one path `index`, `watch`
and `demo` share), the one auto-tag policy after it, and the library's roots and ignore
patterns."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from searchapp.errors import SearchAppError
from searchapp.file_names import shown_path
from searchapp.indexing import IndexSummary, ProgressCallback, index_runner, preflight
from searchapp.models.base import ModelSpec
from searchapp.service_core import ServiceCore

if TYPE_CHECKING:
    from searchapp.indexing import IndexRunner
    from searchapp.store import StoredModel
    from searchapp.tagging.tagger import TagRun
    from searchapp.vector_base import BuildProgress

log = logging.getLogger(__name__)


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


class IndexUseCases(ServiceCore):
    def index_runner(
        self, model: StoredModel, request: IndexRequest = IndexRequest()
    ) -> IndexRunner:
        factory = index_runner(request.runner)
        patterns = self.store.roots.ignore_patterns()
        return factory(self.library, model, patterns, request.verify, request.reindex)

    def check_can_index(self, writer: str = "searchapp index", runner: str = "local") -> None:
        """Refuse now, before any progress is shown, when the library is read-only or another
        indexer is writing it, or the runner cannot start (the same errors `index` would
        raise)."""
        from searchapp.writer_lock import WriterLock

        WriterLock(self.settings.data_dir, writer).release()
        preflight(runner, self.settings)

    @staticmethod
    def check_index_paths(paths: Sequence[Path]) -> None:
        """Refuse paths that cannot be indexed, before anything starts."""
        for path in paths:
            if not path.exists():
                raise SearchAppError(f"No such file or folder: {shown_path(str(path))}")

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
        from searchapp.writer_lock import WriterLock

        started = time.perf_counter()
        self.check_index_paths(paths)
        with WriterLock(self.settings.data_dir, writer):
            model = self.library.indexing_model(request.model, request.reindex)
            self.library.vector_backend(model)  # an unreachable backend fails before any work
            summary = self.index_runner(model, request).run([str(p) for p in paths], progress)
            self.library.vector_backend(model).build_now(build_progress)
            report = IndexReport(summary, searchable_seconds=time.perf_counter() - started)
            choice = self.library.runtime_choice
            if choice is not None:
                report.runtime, report.runtime_source = choice.label, choice.source
                report.calibration = dict(choice.images_per_s)
            if request.tag and self.settings.auto_tag:
                if on_searchable is not None:
                    on_searchable(report)
                labels_from_model = self.library.label_precision(model) in ("bf16", "fp16")
                if not labels_from_model:
                    self.library.release_model()
                report.tagging, report.tagging_skipped = self.tag_new_photos()
                self.library.release_model()
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
