"""The background indexer in a subprocess, as a user or a service manager runs it, and the checks
that a library is consistent. Waits poll the real store with a deadline; none assumes timing."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from sqlalchemy import text

from searchapp.config import Settings
from searchapp.store import Store
from tests.conftest import BASE_ENV, TinyModel

WAIT_SECONDS = 90.0


def content_hash(path: Path) -> str:
    return hashlib.blake2b(path.read_bytes(), digest_size=20).hexdigest()


class IndexerProcess:
    """`searchapp watch` on `data_dir`; its log goes to a file (a pipe could fill and block)."""

    def __init__(
        self,
        data_dir: Path,
        tiny_model: TinyModel,
        roots: Iterable[Path] = (),
        *flags: str,
        settle: float = 0.3,
    ) -> None:
        self.data_dir = data_dir
        self.log_path = data_dir.parent / f"watch-{time.monotonic_ns()}.log"
        data_dir.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, **BASE_ENV, "SEARCHAPP_DATA_DIR": str(data_dir)}
        args = [sys.executable, "-m", "searchapp", "watch", *map(str, roots), *tiny_model.flags]
        args += ["--settle", str(settle), "--rescan-minutes", "0", *flags]
        self._log = open(self.log_path, "wb")  # noqa: SIM115 (closed in `wait`)
        self.process = subprocess.Popen(args, stdout=self._log, stderr=subprocess.STDOUT, env=env)
        self._store: Store | None = None

    @property
    def store(self) -> Store:
        if self._store is None:
            self._store = Store(self.data_dir / "library.sqlite3")
        return self._store

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_for(
        self, condition: Callable[[], bool], what: str, timeout: float = WAIT_SECONDS
    ) -> float:
        """Poll until `condition` holds; returns the seconds it took."""
        started = time.monotonic()
        while not condition():
            if self.process.poll() is not None:
                raise AssertionError(
                    f"the indexer exited ({self.process.returncode}) waiting "
                    f"for {what}\n{self.log()[-4000:]}"
                )
            if time.monotonic() - started > timeout:
                raise AssertionError(f"timed out waiting for {what}\n{self.log()[-4000:]}")
            time.sleep(0.05)
        return time.monotonic() - started

    def idle(self) -> bool:
        status = self.store.indexer_status.read()
        return (
            status is not None
            and status.pid == self.process.pid
            and status.state == "idle"
            and status.queue_length == 0
        )

    def wait_idle(self, timeout: float = WAIT_SECONDS) -> None:
        self.wait_for(self.idle, "the indexer to be idle", timeout)

    def files(self, under: Path | None = None) -> dict[str, Any]:
        """path -> KnownFile, for everything the library knows (under a folder)."""
        model = self.store.active_model()
        return dict(self.store.known_files([str(under or "/")], model.id if model else 0))

    def ok_paths(self, under: Path) -> set[str]:
        return {path for path, known in self.files(under).items() if known.status == "ok"}

    def signal(self, signum: int) -> None:
        self.process.send_signal(signum)

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.wait(30)

    def wait(self, timeout: float) -> int:
        try:
            return self.process.wait(timeout)
        finally:
            self._log.close()
            if self._store is not None:
                self._store.close()
                self._store = None

    def stop(self) -> int:
        if self.process.poll() is None:
            self.signal(signal.SIGTERM)
        return self.wait(60)


def embedding_id_of(store: Store, path: str) -> int | None:
    with store.engine.connect() as conn:
        value = conn.execute(
            text(
                "SELECT e.id FROM files f JOIN embeddings e ON e.image_id = f.image_id "
                "WHERE f.path = :path"
            ),
            {"path": path},
        ).scalar()
    return None if value is None else int(value)


def assert_consistent(data_dir: Path) -> None:
    """What any committed state must satisfy: each ok file's row names its current content and an
    embedded image; one image per content; one vector per image; no orphans; and a vector index
    (as a reader loads it) holding exactly the store's embedding ids."""
    from searchapp.library import Library

    library = Library(Settings(data_dir=data_dir, precision="fp32"))
    try:
        store = library.store
        with store.engine.connect() as conn:
            rows = conn.execute(text("SELECT path, status, content_hash, image_id FROM files"))
            files = rows.all()
            images = dict(conn.execute(text("SELECT id, content_hash FROM images")).all())
            vectors = conn.execute(text("SELECT id, image_id FROM embeddings")).all()
        assert len({row.path for row in files}) == len(files)
        for row in files:
            if row.status == "ok":
                assert images.get(row.image_id) == row.content_hash, row.path
        assert len(set(images.values())) == len(images), "an image is stored twice"
        referenced = {row.image_id for row in files if row.image_id is not None}
        assert set(images) <= referenced, "an image no file points at"
        assert sorted(image_id for _, image_id in vectors) == sorted(images), "vectors ≠ images"
        model = store.active_model()
        if model is not None:
            index = library.vector_index(model)
            assert sorted(index.ids().tolist()) == sorted(v.id for v in vectors)
    finally:
        library.close()


def assert_matches_folder(data_dir: Path, folder: Path, valid: Iterable[Path]) -> None:
    """The library holds every valid photo under `folder` exactly once, with its current content,
    and nothing else as ok; and search finds each photo's own content first."""
    from searchapp.query import Query
    from searchapp.search import SearchOptions
    from searchapp.service import LibraryService

    valid = sorted(valid)
    service = LibraryService(Settings(data_dir=data_dir, precision="fp32"))
    library = service.library
    try:
        model = library.store.active_model()
        assert model is not None
        known = library.store.known_files([str(folder)], model.id)
        ok = {path: k for path, k in known.items() if k.status == "ok"}
        assert sorted(ok) == [str(p) for p in valid]
        for path in valid:
            assert ok[str(path)].content_hash == content_hash(path), path
            assert ok[str(path)].embedded, path
        for path in valid[:: max(1, len(valid) // 5)]:
            best = service.search(Query.image(path), options=SearchOptions(top_k=1)).results[0]
            assert content_hash(Path(best.path)) == content_hash(path)
            assert best.score > 0.999
    finally:
        service.close()
