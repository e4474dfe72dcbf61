"""One writer per library: a lock file in the data directory, held for as long as an indexer
runs. The operating system releases it when the process ends, however it ends (SIGKILL, a
crash), so a stale lock never needs cleaning up. (`fcntl` locks: on Windows there is none.)"""

from __future__ import annotations

import errno
import logging
import os
from pathlib import Path
from types import TracebackType

from searchapp.errors import IndexerBusyError, ReadOnlyLibraryError

LOCK_FILE = "indexer.lock"
log = logging.getLogger(__name__)

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None  # type: ignore[assignment]


class WriterLock:
    """Taken on creation (or a clear error if another indexer holds it), released by `release`
    or at the end of a `with` block. `what` (e.g. "searchapp watch") names the holder for the
    message another indexer gets."""

    def __init__(self, data_dir: Path, what: str) -> None:
        path = data_dir / LOCK_FILE
        try:
            data_dir.mkdir(parents=True, exist_ok=True)
            self._handle = open(path, "a+", encoding="utf-8")  # noqa: SIM115 (held until release)
        except OSError as exc:
            if exc.errno not in (errno.EROFS, errno.EACCES, errno.EPERM):
                raise
            raise ReadOnlyLibraryError(
                f"The data directory {data_dir} is read-only ({exc.strerror}): search, similar, "
                f"status, info and tags work; {what.removeprefix('searchapp ')} needs write "
                "access (remount it read-write, or use another --data-dir)."
            ) from None
        if fcntl is None:
            log.warning("no file locks on this system: run one indexer per library at a time")
            return
        try:
            fcntl.flock(self._handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._handle.close()
            try:
                holder = path.read_text(encoding="utf-8").strip() or "another process"
            except OSError:
                holder = "another process"
            raise IndexerBusyError(
                f"Another indexer ({holder}) is already writing the library in {data_dir}. "
                "The background indexer (`searchapp watch`) picks up new photos by itself: add "
                "folders with `searchapp roots add PATH`, or stop it before running this."
            ) from None
        try:  # who holds it, for the message another indexer gets; a full disk goes without
            self._handle.seek(0)
            self._handle.truncate()
            self._handle.write(f"{what}, pid {os.getpid()}\n")
            self._handle.flush()
        except OSError as exc:
            log.warning("could not write the holder into %s: %s", path, exc.strerror or exc)

    def release(self) -> None:
        if self._handle.closed:
            return
        self._handle.seek(0)
        self._handle.truncate()
        if fcntl is not None:
            fcntl.flock(self._handle, fcntl.LOCK_UN)
        self._handle.close()

    def __enter__(self) -> WriterLock:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.release()
