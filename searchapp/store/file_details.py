"""What the store holds about one file: its row, and its image's metadata when it has one."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.engine import Engine

from searchapp.store.schema import files, images


@dataclass(frozen=True)
class FileDetails:
    path: str
    size: int
    mtime_ns: int
    status: str
    error: str | None
    indexed_at: float
    content_hash: str | None
    width: int | None
    height: int | None
    captured_at: str | None
    camera: str | None
    orientation: int | None


def file_details(engine: Engine, path: str) -> FileDetails | None:
    query = (
        select(
            files.c.path,
            files.c.size,
            files.c.mtime_ns,
            files.c.status,
            files.c.error,
            files.c.indexed_at,
            files.c.content_hash,
            images.c.width,
            images.c.height,
            images.c.captured_at,
            images.c.camera,
            images.c.orientation,
        )
        .select_from(files.outerjoin(images, images.c.id == files.c.image_id))
        .where(files.c.path == path)
    )
    with engine.connect() as conn:
        row = conn.execute(query).first()
    return None if row is None else FileDetails(**row._mapping)
