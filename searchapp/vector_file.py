"""The vector index on disk, beside the store, read and written as a whole under a file lock.

`<data dir>/vectors/` holds `manifest.json`, one base snapshot directory (`base-<pid>-<ns>/`,
see `vector_base`) and at most one delta file (`delta-<pid>-<ns>.npz`). The manifest names the
store the index follows (its library id and revision), the model, the kind and parameters, and
the SHA-256 of every file, so a file of another library, a stale one, or one with damaged bytes
is recognised and never served: the index is rebuilt from SQLite and the files replaced. Files
up to 64 MiB are hashed whole at every load; a larger one (the rows and the approximate index
of a big library) by its size and a digest of 64 blocks spread over it, so a cold start at a
million photos stays within seconds (truncation, a swapped file and most damage are caught;
scores outside [-1, 1] are caught by the search service).

A base is written once, then renamed into place; the manifest is replaced atomically last, so a
reader sees an old whole index or a new whole one, never a mix. Readers share the lock, a writer
holds it alone; a data directory this process cannot write to, or a system without `fcntl`,
goes without it. While a build runs, `building.json` tells other processes (`searchapp status`).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import shutil
import time
from collections.abc import Iterator
from dataclasses import asdict, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from searchapp.file_stamps import FileStamps
from searchapp.vector_base import ANN_FILE, IDS_FILE, VECTORS_FILE, BaseVectors, IndexPlan
from searchapp.vectors import Delta, Manifest, VectorIndex

if TYPE_CHECKING:
    from searchapp.store import StoredModel

log = logging.getLogger(__name__)
MANIFEST_FILE = "manifest.json"
LOCK_FILE = ".lock"
BUILDING_FILE = "building.json"
FULL_CHECK_BYTES = 64 << 20
SAMPLE_BLOCKS = 64
SAMPLE_BLOCK_BYTES = 64 << 10
HASH_CHUNK = 1 << 22


class VectorFileError(Exception):
    """The index could not be written (disk full, read-only, I/O error); nothing half-written
    is left behind. `str()` says why."""


@contextlib.contextmanager
def locked(directory: Path, exclusive: bool) -> Iterator[None]:
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
    """SHA-256 of the whole file, or for a large one of its size and 64 spread blocks."""
    digest = hashlib.sha256()
    size = path.stat().st_size
    with path.open("rb") as fh:
        if size <= FULL_CHECK_BYTES:
            while chunk := fh.read(HASH_CHUNK):
                digest.update(chunk)
            return digest.hexdigest()
        digest.update(f"sampled:{size}".encode())
        step = (size - SAMPLE_BLOCK_BYTES) // (SAMPLE_BLOCKS - 1)
        for block in range(SAMPLE_BLOCKS):
            fh.seek(block * step)
            digest.update(fh.read(SAMPLE_BLOCK_BYTES))
    return f"sampled-{digest.hexdigest()}"


def base_checksums(directory: Path) -> dict[str, str]:
    names = [IDS_FILE, VECTORS_FILE, ANN_FILE]
    return {name: file_checksum(directory / name) for name in names if (directory / name).is_file()}


def read_manifest(directory: Path) -> Manifest | None:
    try:
        return Manifest(**json.loads((directory / MANIFEST_FILE).read_text()))
    except (OSError, ValueError, TypeError):
        return None


def token() -> str:
    return f"{os.getpid()}-{time.time_ns()}"


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True


def _sound(directory: Path, manifest: Manifest, stamps: FileStamps | None) -> str | None:
    """Why the files the manifest names are not the ones it describes, or None. With `stamps`
    a checksum verified earlier is not read again while its file is unchanged."""
    expected = manifest.checksums or {}
    files = {name: directory / manifest.base / name for name in expected if name != "delta"}
    if manifest.delta:
        files["delta"] = directory / manifest.delta
    if IDS_FILE not in expected or (manifest.delta and "delta" not in expected):
        return "it has no checksums"
    for name, path in files.items():
        found = file_checksum(path) if stamps is None else stamps.checksum(path, file_checksum)
        if found != expected[name]:
            return f"{path.name} fails its checksum"
    return None


def checksum_stamps(stamps_dir: Path, directory: Path) -> FileStamps:
    """The stamps of `directory`'s index files, kept in `stamps_dir` (the user cache: a read-only
    library still gets them, and the library's own files are not touched)."""
    key = hashlib.sha256(str(directory.absolute()).encode()).hexdigest()[:24]
    with contextlib.suppress(OSError):
        stamps_dir.mkdir(parents=True, exist_ok=True)
    return FileStamps(stamps_dir / f"vectors-{key}.json")


def read_index(
    directory: Path, library_id: str, model: StoredModel, stamps_dir: Path | None = None
) -> VectorIndex | None:
    """The persisted index of this library and model, if there is a whole, sound one; None (and
    a log line saying why) otherwise. With `stamps_dir`, checksums verified once are remembered
    there (`FileStamps`); without (`doctor`), every file is read."""
    with locked(directory, exclusive=False):
        manifest = read_manifest(directory)
        if manifest is None or not manifest.base:
            return None
        if manifest.library_id != library_id:
            log.warning("vector index in %s belongs to another library; rebuilding", directory)
            return None
        if manifest.model_key != model.identity.key or manifest.dim != model.dim:
            return None
        params = manifest.params or {}
        plan = IndexPlan(manifest.kind, int(params.get("nlist", 0)), int(params.get("nprobe", 0)))
        try:
            stamps = None if stamps_dir is None else checksum_stamps(stamps_dir, directory)
            problem = _sound(directory, manifest, stamps)
            if stamps is not None:
                stamps.save()
            if problem is not None:
                log.warning("vector index in %s: %s; rebuilding", directory, problem)
                return None
            base = BaseVectors.load(directory / manifest.base, plan, manifest.dim)
            delta = Delta.empty(manifest.dim)
            if manifest.delta:
                with np.load(directory / manifest.delta) as saved:
                    delta = Delta(saved["ids"], saved["vectors"], saved["dropped"])
        except (OSError, ValueError, RuntimeError) as exc:
            log.warning("vector index in %s unreadable (%s); rebuilding", directory, exc)
            return None
    index = VectorIndex(base, manifest, delta)
    if base.count != manifest.base_count or index.count != manifest.count:
        log.warning("vector index in %s does not hold what its manifest says", directory)
        return None
    return index


def persist(index: VectorIndex, directory: Path) -> None:
    """Write the base (once) and the delta, then the manifest, under the lock. A pair on disk
    that is at least as current and as recently built (another process's) is kept. Raises
    VectorFileError, having removed what it half-wrote."""
    written: list[Path] = []
    try:
        with locked(directory, exclusive=True):
            _persist_locked(index, directory, written)
    except (OSError, RuntimeError, ValueError) as exc:
        for leftover in written:
            with contextlib.suppress(OSError):
                leftover.unlink()
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise VectorFileError(f"could not save the vector index in {directory}: {reason}") from exc


def _persist_locked(index: VectorIndex, directory: Path, written: list[Path]) -> None:
    held = index.manifest
    on_disk = read_manifest(directory)
    if (
        on_disk is not None
        and (on_disk.library_id, on_disk.model_key) == (held.library_id, held.model_key)
        and on_disk.removal_seq >= 0
        and on_disk.generation >= held.generation
        and on_disk.built_at >= held.built_at
        and (directory / on_disk.base).is_dir()
    ):
        return
    base = index.base
    if not base.path.is_dir():
        return  # a base another process already replaced and removed
    if base.path.parent != directory or base.path.name.startswith("."):
        target = directory / f"base-{token()}"
        shutil.move(str(base.path), target)
        base.path = target
    delta = index.delta
    delta_name = ""
    checksums = {k: v for k, v in (held.checksums or {}).items() if k != "delta"}
    if len(delta.ids) or len(delta.dropped):
        delta_name = f"delta-{token()}.npz"
        tmp = directory / f".{delta_name}.tmp"
        written.append(tmp)
        with open(tmp, "wb") as fh:
            np.savez(fh, ids=delta.ids, vectors=delta.vectors, dropped=delta.dropped)
        checksums["delta"] = file_checksum(tmp)
        os.replace(tmp, directory / delta_name)
        written[-1] = directory / delta_name
    manifest = replace(
        held, base=base.path.name, delta=delta_name, count=index.count, checksums=checksums
    )
    tmp_manifest = directory / f".{MANIFEST_FILE}.{os.getpid()}.tmp"
    written.append(tmp_manifest)
    tmp_manifest.write_text(json.dumps(asdict(manifest)))
    os.replace(tmp_manifest, directory / MANIFEST_FILE)
    written.clear()
    index.manifest = manifest
    remove_leftovers(directory, manifest)


def _owner(name: str) -> int | None:
    """The pid in a temporary name (`.base-PID-NS`, `.NAME.PID.tmp`)."""
    for part in name.replace(".", "-").split("-"):
        if part.isdigit():
            return int(part)
    return None


def remove_leftovers(directory: Path, manifest: Manifest | None) -> None:
    """Bases and deltas the manifest does not name (readers that mapped them keep them until
    they close them), the file of the older single-file format, and what killed writers left."""
    keep = {MANIFEST_FILE, LOCK_FILE, BUILDING_FILE}
    if manifest is not None:
        keep |= {manifest.base, manifest.delta}
    for entry in directory.iterdir():
        name = entry.name
        if name in keep:
            continue
        if manifest is not None and (name == "index.faiss" or name.startswith(("base-", "delta-"))):
            doomed = True
        elif name.startswith(".base-") or name.endswith(".tmp"):
            owner = _owner(name)
            doomed = owner is None or not pid_alive(owner)
        else:
            doomed = False
        if doomed:
            with contextlib.suppress(OSError):
                if entry.is_dir():
                    shutil.rmtree(entry)
                else:
                    entry.unlink()


def persist_quietly(index: VectorIndex, directory: Path) -> None:
    """The index is derived: failing to save it (read-only mount, disk full) costs the next
    reader a rebuild, never this query."""
    try:
        persist(index, directory)
    except VectorFileError as exc:
        log.warning("%s", exc)


def index_status(directory: Path, building_here: bool = False) -> dict[str, Any]:
    """What `searchapp status` reports as `vector_index`, read from disk (no index loaded)."""
    manifest = read_manifest(directory)
    marker: dict[str, Any] | None = None
    with contextlib.suppress(OSError, ValueError):
        marker = json.loads((directory / BUILDING_FILE).read_text())
    if marker is not None and not pid_alive(int(marker.get("pid", 0))):
        marker = None
    return {
        "kind": manifest.kind if manifest and manifest.base else None,
        "params": (manifest.params or {}) if manifest else {},
        "count": manifest.count if manifest else 0,
        "base_count": manifest.base_count if manifest else 0,
        "built_at": manifest.built_at if manifest else None,
        "build_seconds": manifest.build_seconds if manifest else None,
        "building": building_here or marker is not None,
        "build": marker,
    }
