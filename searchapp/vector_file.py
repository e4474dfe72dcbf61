"""The vector index on disk: `index.faiss` and its manifest, read and written as a pair.

The manifest names the store the index was built from (its library id and revision), the
model, and the SHA-256 of the index file, so a file from another library, a stale one, or one
with damaged bytes is recognised and never served. Both files are written atomically under an
exclusive file lock (readers share it); a failed write removes its temporary file, and temporary
files left by a writer that was killed are swept.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
from collections.abc import Iterator
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)
INDEX_FILE = "index.faiss"
MANIFEST_FILE = "manifest.json"
LOCK_FILE = ".lock"
HASH_CHUNK = 1 << 22


@dataclass(frozen=True)
class Manifest:
    model_key: str
    generation: int
    count: int
    dim: int
    max_id: int = 0
    removed: int = -1  # the store's `vectors_removed` when built; -1 (older manifests): unknown
    library_id: str = ""  # the store's random id; "" (older manifests): unknown, rebuild
    revision: str = ""  # the store's revision token when built
    checksum: str = ""  # SHA-256 of index.faiss


class VectorFileError(Exception):
    """The index could not be written (disk full, read-only, I/O error); nothing half-written
    is left behind. `str()` says why."""


@contextlib.contextmanager
def locked(directory: Path, exclusive: bool) -> Iterator[None]:
    """Readers share the lock, a writer holds it alone. A data directory this process cannot
    write to (a read-only mount), or a system without `fcntl` (Windows), goes without it."""
    try:
        import fcntl

        if exclusive:
            directory.mkdir(parents=True, exist_ok=True)
        handle = open(directory / LOCK_FILE, "a+b")  # noqa: SIM115 (held across the yield)
    except (ImportError, OSError):
        yield
        return
    with handle:
        fcntl.flock(handle, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        yield


def file_checksum(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def read_manifest(directory: Path) -> Manifest | None:
    try:
        return Manifest(**json.loads((directory / MANIFEST_FILE).read_text()))
    except (OSError, ValueError, TypeError):
        return None


def read_pair(directory: Path, library_id: str, model_key: str) -> tuple[Any, Manifest] | None:
    """The faiss index and its manifest, if they are a whole pair of this library and model
    whose file matches its checksum; None (and a log line saying why) otherwise."""
    import faiss

    index_path = directory / INDEX_FILE
    with locked(directory, exclusive=False):
        manifest = read_manifest(directory)
        if manifest is None or not index_path.is_file():
            return None
        if manifest.library_id != library_id:
            log.warning("vector index in %s belongs to another library; rebuilding", directory)
            return None
        if manifest.model_key != model_key:
            return None
        try:
            if file_checksum(index_path) != manifest.checksum:
                log.warning("vector index %s fails its checksum; rebuilding", index_path)
                return None
            index = faiss.read_index(str(index_path))
        except (OSError, RuntimeError) as exc:
            log.warning("vector index %s unreadable (%s); rebuilding", index_path, exc)
            return None
    if int(index.ntotal) != manifest.count or int(index.d) != manifest.dim:
        log.warning("vector index %s does not hold what its manifest says; rebuilding", index_path)
        return None
    return index, manifest


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True


def sweep_temporary_files(directory: Path, everyone: bool = False) -> int:
    """Remove temporary files of writers that are gone (all of them with `everyone`, under the
    exclusive lock); a read-only directory is left as it is."""
    removed = 0
    for leftover in directory.glob(".*.tmp"):
        pid_text = leftover.name.rsplit(".", 2)[-2]
        if not everyone and pid_text.isdigit() and _pid_alive(int(pid_text)):
            continue
        with contextlib.suppress(OSError):
            leftover.unlink()
            removed += 1
    return removed


def _keeps(on_disk: Manifest | None, manifest: Manifest, directory: Path) -> bool:
    """Whether the pair on disk already is this index (written by a peer), whole and sound."""
    if on_disk is None or not (directory / INDEX_FILE).is_file():
        return False
    if replace(on_disk, checksum="") != replace(manifest, checksum=""):
        return False
    try:
        return file_checksum(directory / INDEX_FILE) == on_disk.checksum
    except OSError:
        return False


def write_pair(index: Any, manifest: Manifest, directory: Path) -> Manifest:
    """Write index then manifest (with the index's checksum), each atomically; returns the
    manifest as written. Raises VectorFileError, having removed its temporary files."""
    import faiss

    tmp_index = directory / f".{INDEX_FILE}.{os.getpid()}.tmp"
    tmp_manifest = directory / f".{MANIFEST_FILE}.{os.getpid()}.tmp"
    try:
        with locked(directory, exclusive=True):
            if _keeps(read_manifest(directory), manifest, directory):
                return manifest
            sweep_temporary_files(directory, everyone=True)
            faiss.write_index(index, str(tmp_index))
            written = Manifest(**{**asdict(manifest), "checksum": file_checksum(tmp_index)})
            (directory / MANIFEST_FILE).unlink(missing_ok=True)
            os.replace(tmp_index, directory / INDEX_FILE)
            tmp_manifest.write_text(json.dumps(asdict(written)))
            os.replace(tmp_manifest, directory / MANIFEST_FILE)
            return written
    except (OSError, RuntimeError) as exc:
        for leftover in (tmp_index, tmp_manifest):
            with contextlib.suppress(OSError):
                leftover.unlink(missing_ok=True)
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise VectorFileError(f"could not save the vector index in {directory}: {reason}") from exc
