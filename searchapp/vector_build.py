"""Building the vector index from the store, and loading the current one.

A build reads the store's counters first, then every row up to the highest id at that moment,
page by page, straight into the new base's row file (memory stays at one page), then trains and
fills the approximate index when the plan asks for one. What changes meanwhile is caught by the
next `refresh`: new ids lie above, removals are in the store's log. While it runs,
`building.json` says so, with its stage and progress.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from searchapp.vector_base import (
    EXACT,
    BaseVectors,
    BuildProgress,
    IndexPlan,
    plan_for,
    save_ann,
    train_ann,
    write_rows,
)
from searchapp.vector_file import (
    BUILDING_FILE,
    base_checksums,
    persist_quietly,
    read_index,
    remove_leftovers,
    token,
)
from searchapp.vectors import Manifest, VectorIndex, refresh

if TYPE_CHECKING:
    from searchapp.store import Store, StoredModel

log = logging.getLogger(__name__)


def _scratch(directory: Path) -> Path:
    """Where a new base is written: inside the data directory, or a temporary directory when
    that cannot be written to (the index is then kept in this process only)."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / f".base-{token()}"
        path.mkdir()
        return path
    except OSError:
        return Path(tempfile.mkdtemp(prefix="searchapp-base-"))


class _BuildMarker:
    def __init__(self, directory: Path, kind: str) -> None:
        self.path = directory / BUILDING_FILE
        self.info: dict[str, Any] = {"pid": os.getpid(), "started_at": time.time(), "kind": kind}

    def update(self, stage: str, done: int, total: int) -> None:
        self.info.update(stage=stage, done=done, total=total)
        tmp = self.path.with_name(f".{BUILDING_FILE}.{os.getpid()}.tmp")
        try:
            tmp.write_text(json.dumps(self.info))
            os.replace(tmp, self.path)
        except OSError:  # a full disk: no progress marker, and no half-written file left
            with contextlib.suppress(OSError):
                tmp.unlink(missing_ok=True)

    def clear(self) -> None:
        with contextlib.suppress(OSError):
            if json.loads(self.path.read_text()).get("pid") == os.getpid():
                self.path.unlink()


def build(
    store: Store,
    model: StoredModel,
    directory: Path,
    plan: IndexPlan,
    progress: BuildProgress | None = None,
) -> VectorIndex:
    """A new index of every vector of the model, from the store. The counters are read before
    the rows, and only rows up to the highest id then are read: what changes during the build is
    caught by the next `refresh` (new ids lie above, removals are in the log)."""
    from searchapp.store.vector_state import model_extent, vector_state

    started = time.perf_counter()
    state = vector_state(store.engine)
    count, highest = model_extent(store.engine, model.id)
    marker = _BuildMarker(directory, plan.kind)

    def report(stage: str, done: int, total: int) -> None:
        marker.update(stage, done, total)
        if progress:
            progress(stage, done, total)

    path = _scratch(directory)
    try:
        report("reading", 0, count)
        pages = store.vectors.iter_vectors(model.id, model.dim, up_to_id=highest)

        def counted() -> Iterator[tuple[Any, Any]]:
            done = 0
            for page in pages:
                done += len(page[0])
                yield page
                report("reading", min(done, count), count)

        try:
            ids, written = write_rows(path, counted(), count)
        except OSError as exc:  # a full disk: build in a temporary directory, keep it in memory
            if path.parent != directory:
                raise
            log.warning("cannot write the vector index in %s (%s); keeping it in memory", path, exc)
            shutil.rmtree(path, ignore_errors=True)
            path = Path(tempfile.mkdtemp(prefix="searchapp-base-"))
            pages = store.vectors.iter_vectors(model.id, model.dim, up_to_id=highest)
            ids, written = write_rows(path, counted(), count)
        if plan.kind != EXACT and written < plan.nlist * 2:
            plan = IndexPlan()
        base = BaseVectors.load(path, IndexPlan(), model.dim)
        if plan.kind != EXACT:
            ann = train_ann(base.vectors, ids, plan, report)
            save_ann(ann, path)
            base = BaseVectors(ids, base.vectors, plan, ann, path.name)
        base.path = path
        report("done", written, written)
    finally:
        marker.clear()
    seconds = time.perf_counter() - started
    manifest = Manifest(
        model.identity.key,
        state.generation,
        written,
        model.dim,
        max_id=int(ids[-1]) if written else 0,
        removed=state.removed,
        removal_seq=state.removal_seq,
        kind=plan.kind,
        params=plan.as_dict(),
        base_count=written,
        built_at=time.time(),
        build_seconds=round(seconds, 2),
        library_id=store.library_id(),
        revision=state.revision,
        checksums=base_checksums(path),
    )
    log.info("built a %s vector index of %d rows in %.1f s", plan.kind, written, seconds)
    return VectorIndex(base, manifest)


def load_current(
    store: Store,
    model: StoredModel,
    directory: Path,
    ann_min_photos: int | None = None,
    progress: BuildProgress | None = None,
    stamps_dir: Path | None = None,
) -> VectorIndex:
    """The index for the store as it is now: read from disk and brought up to date; built from
    the store when there is none (of the kind `ann_min_photos` asks for; None: exact, the
    quick one, for a reader that must answer now). A changed index is persisted."""
    if directory.is_dir():
        with contextlib.suppress(OSError):
            remove_leftovers(directory, None)
    on_disk = read_index(directory, store.library_id(), model, stamps_dir)
    if on_disk is not None:
        written = on_disk.manifest.generation
        current = refresh(on_disk, store, model)
        if current is not None:
            if current.manifest.generation != written:
                persist_quietly(current, directory)
            return current
    log.info("vector index %s; building it from the store", "stale" if on_disk else "missing")
    plan = IndexPlan()
    if ann_min_photos is not None:
        from searchapp.store.vector_state import model_extent

        plan = plan_for(model_extent(store.engine, model.id)[0], ann_min_photos)
    return rebuild(store, model, directory, plan, progress)


def rebuild(
    store: Store,
    model: StoredModel,
    directory: Path,
    plan: IndexPlan | None = None,
    progress: BuildProgress | None = None,
) -> VectorIndex:
    """A new index from every stored vector, brought up to date and saved (when it can be)."""
    built = build(store, model, directory, plan or IndexPlan(), progress)
    current = refresh(built, store, model) or built
    persist_quietly(current, directory)
    return current
