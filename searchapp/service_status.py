"""Reports the application layer assembles from the store: the library's status (with the
background indexer's) and one photo's details."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from searchapp.config import Settings
from searchapp.errors import LibraryEmptyError, PhotoNotFoundError
from searchapp.file_names import path_bytes_b64, shown_path
from searchapp.store import Store
from searchapp.store.photo_queries import file_type_of


def _local(epoch: float | None) -> str | None:
    return None if epoch is None else datetime.fromtimestamp(epoch).isoformat(timespec="seconds")


def _utc(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, tz=timezone.utc).isoformat(timespec="seconds")


def indexer_report(store: Store) -> dict[str, Any]:
    """The background indexer's status, as its heartbeat row tells it."""
    status = store.indexer_status.read()
    report: dict[str, Any] = {"roots": store.roots.paths(), "running": False, "state": "never run"}
    if status is None:
        return report
    running = status.running(time.time())
    report.update(
        running=running,
        state=status.state if running else "stopped",
        last_state=status.state,
        pid=status.pid,
        host=status.host,
        started_at=_local(status.started_at),
        updated_at=_local(status.updated_at),
        queue_length=status.queue_length,
        rate=status.rate,
        indexed=status.indexed,
        removed=status.removed,
        failed=status.failed,
        last_full_scan_at=_local(status.last_full_scan_at),
        last_full_scan_seconds=status.last_full_scan_seconds,
        message=status.message,
        recent_errors=[
            {"at": _local(e.at), "path": e.path and shown_path(e.path), "reason": e.reason}
            for e in store.indexer_status.recent_errors()
        ],
    )
    return report


def library_status(store: Store, settings: Settings) -> dict[str, Any]:
    model = store.active_model()
    return {
        "data_dir": str(settings.data_dir),
        "model": model.identity.describe() if model else None,
        **store.vectors.counts(),
        "failed": [
            {"path": shown_path(path), "path_bytes": path_bytes_b64(path), "reason": reason}
            for path, reason in store.vectors.failures()
        ],
        "skipped_formats": store.skipped_formats(),
        "indexer": indexer_report(store),
    }


@dataclass(frozen=True)
class PhotoTag:
    vocabulary: str
    label: str
    score: float


@dataclass(frozen=True)
class PhotoDetails:
    id: int
    path: str
    status: str
    error: str | None
    bytes: int
    modified: str
    indexed: str
    file_type: str | None
    width: int | None
    height: int | None
    captured_at: str | None
    camera: str | None
    orientation: int | None
    tags: tuple[PhotoTag, ...]

    def as_dict(self) -> dict[str, object]:
        return {
            "id": self.id,
            "path": shown_path(self.path),
            "path_bytes": path_bytes_b64(self.path),
            "status": self.status,
            "error": self.error,
            "bytes": self.bytes,
            "modified": self.modified,
            "indexed": self.indexed,
            "file_type": self.file_type,
            "width": self.width,
            "height": self.height,
            "captured_at": self.captured_at,
            "camera": self.camera,
            "orientation": self.orientation,
            "tags": [
                {"vocabulary": t.vocabulary, "label": t.label, "score": round(t.score, 6)}
                for t in self.tags
            ],
        }


def photo_details(store: Store, path: str) -> PhotoDetails:
    details = store.file_details(path)
    model = store.active_model()
    if details is None:
        if model is None:
            raise LibraryEmptyError(
                "Nothing is indexed yet in this data directory. Run `searchapp index PATH` first."
            )
        raise PhotoNotFoundError(
            f"{path} is not in the library. Index its folder with `searchapp index FOLDER`."
        )
    image_tags = store.tags.tags_of_file(path, model.id) if model else []
    photo_id = store.photos.photo_id_of(path)
    assert photo_id is not None
    return PhotoDetails(
        id=photo_id,
        path=details.path,
        status=details.status,
        error=details.error,
        bytes=details.size,
        modified=_utc(details.mtime_ns / 1e9),
        indexed=_utc(details.indexed_at),
        file_type=file_type_of(details.path),
        width=details.width,
        height=details.height,
        captured_at=details.captured_at,
        camera=details.camera,
        orientation=details.orientation,
        tags=tuple(PhotoTag(t.vocabulary, t.label, t.score) for t in image_tags),
    )
