"""`searchapp doctor`: check a library's store, vector index, files and model, and repair what
can be rebuilt. Photos are never deleted or changed.

- store: SQLite's full `integrity_check`, the schema and the library id. A damaged database is
  repaired by moving it aside (`library.sqlite3.damaged-TIME`), creating a new one with what can
  still be read from the old one (the model, tag vocabularies, roots, ignore patterns) and
  indexing the roots again; photo vectors are recomputed.
- index: the vector index on disk must be this store's, whole, and match its checksum; repaired
  by a rebuild from SQLite.
- files: every indexed photo is still there with the stat it was indexed with; a photo that
  changed or vanished is reported (`searchapp index` brings the library up to date).
- model: the library's model loads.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from searchapp.config import Settings
from searchapp.errors import SearchAppError
from searchapp.file_names import path_from_shown
from searchapp.store.connection import read_only_uri

if TYPE_CHECKING:
    from searchapp.library import Library

log = logging.getLogger(__name__)


@dataclass
class Finding:
    part: str
    ok: bool
    message: str
    repaired: str | None = None

    def as_dict(self) -> dict[str, object]:
        return {
            "part": self.part,
            "ok": self.ok,
            "message": self.message,
            "repaired": self.repaired,
        }


@dataclass
class DoctorReport:
    findings: list[Finding] = field(default_factory=list)

    @property
    def healthy(self) -> bool:
        """Nothing is wrong now: every finding was fine, or has been repaired."""
        return all(f.ok or f.repaired is not None for f in self.findings)

    def as_dict(self) -> dict[str, object]:
        return {"healthy": self.healthy, "findings": [f.as_dict() for f in self.findings]}


@dataclass
class Salvage:
    """What could still be read from a damaged database."""

    model: dict[str, Any] | None = None
    vocabularies: list[dict[str, Any]] = field(default_factory=list)
    roots: list[str] = field(default_factory=list)
    ignore_patterns: list[str] = field(default_factory=list)


def _rows(conn: sqlite3.Connection, sql: str) -> list[dict[str, Any]]:
    try:
        cursor = conn.execute(sql)
        names = [column[0] for column in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    except sqlite3.DatabaseError as exc:
        log.warning("could not read from the damaged database (%s): %s", sql, exc)
        return []


def _top_folders(paths: list[str]) -> list[str]:
    """The fewest folders that hold every path: each file's folder, less those under another."""
    kept: list[str] = []
    for folder in sorted({os.path.dirname(p) for p in paths}):
        if not kept or not (folder == kept[-1] or folder.startswith(kept[-1].rstrip("/") + "/")):
            kept.append(folder)
    return kept


def salvage(database_path: Path) -> Salvage:
    found = Salvage()
    try:
        conn = sqlite3.connect(read_only_uri(database_path), uri=True)
    except sqlite3.DatabaseError:
        return found
    try:
        state = {r["key"]: r["value"] for r in _rows(conn, "SELECT key, value FROM library_state")}
        models = _rows(conn, "SELECT * FROM models")
        active = [m for m in models if str(m["id"]) == state.get("active_model_id")]
        found.model = (active or models)[0] if active or models else None
        found.vocabularies = _rows(conn, "SELECT * FROM vocabularies")
        roots = _rows(conn, "SELECT path FROM library_roots")
        found.roots = [path_from_shown(r["path"]) for r in roots]
        if not found.roots:
            ok = _rows(conn, "SELECT path FROM files WHERE status='ok'")
            paths = [path_from_shown(r["path"]) for r in ok]
            found.roots = [p for p in _top_folders(paths) if os.path.isdir(p)]
        found.ignore_patterns = [
            r["pattern"] for r in _rows(conn, "SELECT pattern FROM ignore_patterns")
        ]
    finally:
        conn.close()
    return found


def _integrity(library: Library) -> str | None:
    """SQLite's `integrity_check`; PostgreSQL's own page checks and backups are its server's."""
    if library.store.is_postgresql:
        return None
    with library.store.engine.connect() as conn:
        verdict = str(conn.exec_driver_sql("PRAGMA integrity_check(1)").scalar())
    return None if verdict == "ok" else verdict


def check_index(library: Library) -> Finding:
    from searchapp.store.vector_state import vector_state
    from searchapp.vector_file import read_index

    model = library.store.active_model()
    if model is None:
        return Finding("index", True, "nothing indexed yet")
    directory = library.settings.vectors_dir
    index = read_index(directory, library.store.library_id(), model)
    if index is None:
        return Finding(
            "index",
            False,
            f"the vector index in {directory} is missing, damaged or not this library's "
            "(queries rebuild it in memory until it is saved)",
        )
    manifest = index.manifest
    state = vector_state(library.store.engine)
    if state.generation < manifest.generation:
        return Finding("index", False, "the vector index is newer than the store (a backup?)")
    if state.revision != manifest.revision:
        return Finding(
            "index",
            True,
            f"{index.count} vectors; the store changed since it was saved (the next query "
            "brings it up to date)",
        )
    return Finding("index", True, f"{index.count} vectors, current and sound")


def check_files(library: Library) -> Finding:
    from searchapp.store.records import FileStat

    model = library.store.active_model()
    known = library.store.known_files(["/"], model.id if model else 0)
    missing = changed = 0
    for path, file in known.items():
        if file.status != "ok":
            continue
        try:
            stat = FileStat.of(path, os.stat(path))
        except OSError:
            missing += 1
            continue
        if not file.matches(stat):
            changed += 1
    photos = sum(1 for f in known.values() if f.status == "ok")
    if missing or changed:
        return Finding(
            "files",
            False,
            f"of {photos} indexed photos, {missing} are missing and {changed} "
            "changed since indexing: run `searchapp index` on your folders",
        )
    return Finding("files", True, f"all {photos} indexed photos are there, unchanged")


def check_vectors(library: Library) -> Finding:
    from searchapp.store.vector_blobs import malformed_vector_ids

    bad = malformed_vector_ids(library.store.engine)
    if not bad:
        return Finding("vectors", True, "every stored vector has its model's width")
    listed = ", ".join(str(i) for i in bad)
    return Finding(
        "vectors",
        False,
        f"stored vectors of the wrong size (ids {listed}); `searchapp doctor --repair` "
        "re-embeds the library's photos",
    )


def _repair_vectors(settings: Settings, finding: Finding, index: Finding) -> None:
    """Forget the damaged vectors, then re-embed every photo of the library's roots (which
    saves the vector index again too)."""
    from searchapp.service import IndexRequest, LibraryService
    from searchapp.store.vector_blobs import forget_vectors, malformed_vector_ids
    from searchapp.writer_lock import WriterLock

    with LibraryService(settings) as service:
        with WriterLock(settings.data_dir, "searchapp doctor --repair"):
            while bad := malformed_vector_ids(service.store.engine, limit=1000):
                forget_vectors(service.store.engine, bad)
        roots, _ = service.roots()
        report = service.index([Path(root) for root in roots], IndexRequest(reindex=True))
        after = check_index(service.library)
    finding.repaired = f"{report.summary.indexed} photos re-embedded from {len(roots)} folders"
    if not index.ok and after.ok:
        index.repaired = f"saved again after the re-embedding: {after.message}"


def check_model(library: Library) -> Finding:
    model = library.store.active_model()
    if model is None:
        return Finding("model", True, "no model yet (nothing indexed)")
    try:
        library.embedder(model)
    except SearchAppError as exc:
        return Finding("model", False, str(exc))
    except Exception as exc:
        return Finding("model", False, f"{model.identity.describe()} does not load: {exc}")
    return Finding("model", True, f"{model.identity.describe()} loads")


def _move_aside(database_path: Path) -> Path:
    stamp = time.strftime("%Y%m%dT%H%M%S")
    aside = database_path.with_name(f"{database_path.name}.damaged-{stamp}")
    for suffix in ("", "-wal", "-shm"):
        source = Path(f"{database_path}{suffix}")
        if source.exists():
            os.replace(source, Path(f"{aside}{suffix}"))
    return aside


def _restore(library: Library, saved: Salvage) -> None:
    from searchapp.models.base import ModelIdentity

    store = library.store
    model = saved.model
    if model is not None:
        identity = ModelIdentity(
            model["backend"], model["name"], model["weights"], model["config_hash"]
        )
        stored = store.register_model(
            identity, model["pretrained"], model["config_json"], int(model["dim"])
        )
        store.activate_model(stored.id)
    for vocabulary in saved.vocabularies:
        store.tags.save_vocabulary(
            vocabulary["name"],
            json.loads(vocabulary["labels_json"]),
            json.loads(vocabulary["templates_json"]),
            vocabulary["threshold"],
            int(vocabulary["top_k"]),
            vocabulary["source"],
        )
    for root in saved.roots:
        store.roots.add(root)
    for pattern in saved.ignore_patterns:
        store.roots.add_ignore_pattern(pattern)


def rebuild_store(settings: Settings, problem: str) -> Finding:
    """Move the damaged database aside, start a new one with what can be salvaged, and index
    the roots again."""
    from searchapp.library import Library
    from searchapp.service import IndexRequest, LibraryService
    from searchapp.writer_lock import WriterLock

    database_path = settings.database_path
    with WriterLock(settings.data_dir, "searchapp doctor --repair"):
        saved = salvage(database_path)
        aside = _move_aside(database_path)
        library = Library(settings)
        try:
            _restore(library, saved)
        finally:
            library.close()
    kept = f"the damaged file is kept as {aside.name}"
    if saved.model is None or not saved.roots:
        return Finding(
            "store",
            False,
            f"damaged ({problem})",
            f"started a new database ({kept}); its model "
            "or folders could not be read: run `searchapp index FOLDER` with your model flags",
        )
    with LibraryService(settings) as service:
        report = service.index([Path(root) for root in saved.roots], IndexRequest())
    vocabularies = ", ".join(v["name"] for v in saved.vocabularies) or "none"
    return Finding(
        "store",
        False,
        f"damaged ({problem})",
        f"new database, {report.summary.indexed} photos indexed again from "
        f"{len(saved.roots)} folders, vocabularies kept: {vocabularies}; {kept}",
    )


def examine(settings: Settings, repair: bool = False) -> DoctorReport:
    """Check the library in `settings.data_dir`; with `repair`, rebuild what is damaged."""
    from searchapp.errors import DamagedLibraryError
    from searchapp.library import Library
    from searchapp.writer_lock import WriterLock

    report = DoctorReport()
    if settings.database_url is None and not settings.database_path.exists():
        report.findings.append(Finding("store", True, f"no library yet in {settings.data_dir}"))
        return report
    try:
        library = Library(settings)
    except DamagedLibraryError as exc:
        return _damaged(report, settings, exc.detail, repair)
    vectors: Finding | None = None
    index: Finding | None = None
    try:
        problem = _integrity(library)
        if problem is None:
            counts = library.store.vectors.counts()
            report.findings.append(
                Finding(
                    "store",
                    True,
                    f"sound: {counts['files_ok']} photos, {counts['images']} "
                    f"images, {counts['embeddings']} vectors",
                )
            )
            vectors = check_vectors(library)
            index = check_index(library)
            if not index.ok and repair and vectors.ok:
                with WriterLock(settings.data_dir, "searchapp doctor --repair"):
                    _repair_index(library, index)
            report.findings += [vectors, index, check_files(library), check_model(library)]
    finally:
        library.close()
    if repair and vectors is not None and index is not None and not vectors.ok:
        _repair_vectors(settings, vectors, index)
    if problem is not None:
        return _damaged(report, settings, problem, repair)
    return report


def _repair_index(library: Library, finding: Finding) -> None:
    from searchapp.vector_file import read_index

    model = library.store.active_model()
    assert model is not None
    rebuilt = library.rebuild_vector_index(model)
    if read_index(library.settings.vectors_dir, library.store.library_id(), model) is None:
        finding.message += "; the rebuilt index could not be saved (see the log)"
        return
    finding.repaired = f"rebuilt from the store: {rebuilt.count} vectors, saved"


def _damaged(report: DoctorReport, settings: Settings, problem: str, repair: bool) -> DoctorReport:
    if not repair:
        report.findings.append(
            Finding(
                "store",
                False,
                f"the database is damaged ({problem}); `searchapp doctor --repair` "
                "rebuilds it by indexing your folders again, keeping the tag vocabularies",
            )
        )
        return report
    report.findings.append(rebuild_store(settings, problem))
    return report
