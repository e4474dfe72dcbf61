"""The SQL of searching: which photos a filter admits, the photos behind result vectors, one
photo by id. A photo is a file (`files.id` is its stable id); files with the same content share
one image and one embedding per model."""

from __future__ import annotations

import functools
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import numpy as np
from numpy.typing import NDArray
from sqlalchemy import Select, and_, bindparam, func, or_, select
from sqlalchemy.engine import Engine
from sqlalchemy.sql.elements import BindParameter, ColumnElement

from searchapp.store.dialect import likely, local_time_of_ns, snapshot
from searchapp.store.filter_cache import CandidateCache, filter_stamp
from searchapp.store.schema import embeddings, files, images, tags
from searchapp.store.vector_blobs import stacked_vectors

SQL_CHUNK = 500
FILE_TYPES: dict[str, tuple[str, ...]] = {
    "jpeg": (".jpg", ".jpeg", ".jpe", ".jfif"),
    "png": (".png",),
    "gif": (".gif",),
    "webp": (".webp",),
    "tiff": (".tif", ".tiff"),
    "bmp": (".bmp",),
    "heic": (".heic", ".heif"),
    "avif": (".avif",),
    "jp2": (".jp2", ".j2k", ".jpx"),
    "pnm": (".pbm", ".pgm", ".ppm", ".pnm"),
}
FILE_TYPE_ALIASES = {"jpg": "jpeg", "tif": "tiff", "heif": "heic"}

# Capture time from EXIF, else the file's modification time (local time, like EXIF's).
taken_at = func.coalesce(images.c.captured_at, local_time_of_ns(files.c.mtime_ns))


def file_type_of(path: str) -> str | None:
    lowered = path.lower()
    for name, suffixes in FILE_TYPES.items():
        if lowered.endswith(suffixes):
            return name
    return None


def normalise_file_type(name: str) -> str | None:
    """The canonical type name for `name` ("jpg" → "jpeg"), or None when unknown."""
    key = name.strip().lower().lstrip(".")
    key = FILE_TYPE_ALIASES.get(key, key)
    return key if key in FILE_TYPES else None


@dataclass(frozen=True)
class PhotoFilter:
    """Which photos a search may return; every given part must hold (tags: all of them)."""

    folders: tuple[str, ...] = ()
    taken_after: date | None = None
    taken_before: date | None = None
    tags: tuple[str, ...] = ()
    file_types: tuple[str, ...] = ()
    cameras: tuple[str, ...] = ()
    min_width: int | None = None
    min_height: int | None = None

    @property
    def is_empty(self) -> bool:
        return self == PhotoFilter()


@dataclass(frozen=True)
class PhotoRow:
    id: int
    embedding_id: int
    path: str
    width: int
    height: int
    taken_at: str | None
    captured_at: str | None
    camera: str | None
    size: int


def _under(folder: str) -> ColumnElement[bool]:
    """The folder itself or a path below it: one index range [root, root + "0") ("0" follows
    "/"), then the residual test drops siblings such as `root-2/` or `root.jpg` that sort inside
    it. (An OR of an equality and a range makes SQLite read the status index instead.)"""
    root = folder.rstrip("/") or "/"
    if root == "/":
        return files.c.path.is_not(None)
    return and_(
        files.c.path >= root,
        files.c.path < root + "0",
        or_(files.c.path == root, files.c.path >= root + "/"),
    )


def _conditions(
    photo_filter: PhotoFilter, model_id: int, folders: bool = True
) -> list[ColumnElement[bool]]:
    """The filter as SQL conditions (`folders=False`: without the folder part)."""
    where: list[ColumnElement[bool]] = [
        # likely(): almost every file is ok, and almost every embedding is of the active model.
        # Without it SQLite (no statistics) takes the status or model index as selective and
        # reads every file (or every embedding) for a page of ids or one folder: 0.6 s instead
        # of 0.2 ms at 30k photos, growing with the library.
        likely(files.c.status == "ok"),
        likely(embeddings.c.model_id == model_id),
    ]
    f = photo_filter
    if f.folders and folders:
        where.append(or_(*(_under(folder) for folder in f.folders)))
    if f.taken_after is not None:
        where.append(taken_at >= f.taken_after.isoformat())
    if f.taken_before is not None:
        where.append(taken_at < (f.taken_before + timedelta(days=1)).isoformat())
    for label in f.tags:
        tagged = select(tags.c.embedding_id).where(tags.c.label == label)
        where.append(embeddings.c.id.in_(tagged))
    if f.file_types:
        suffixes = [s for name in f.file_types for s in FILE_TYPES[name]]
        lowered = func.lower(files.c.path)
        where.append(or_(*(lowered.endswith(suffix, autoescape=True) for suffix in suffixes)))
    if f.cameras:
        camera = func.lower(func.coalesce(images.c.camera, ""))
        where.append(
            or_(*(camera.contains(c.lower(), autoescape=True) for c in f.cameras if c.strip()))
        )
    if f.min_width is not None:
        where.append(images.c.width >= f.min_width)
    if f.min_height is not None:
        where.append(images.c.height >= f.min_height)
    return where


_JOINED = files.join(images, images.c.id == files.c.image_id).join(
    embeddings, embeddings.c.image_id == images.c.id
)
_FILES_TO_EMBEDDINGS = files.join(embeddings, embeddings.c.image_id == files.c.image_id)


def _needs_images(photo_filter: PhotoFilter) -> bool:
    f = photo_filter
    image_parts = (f.taken_after, f.taken_before, f.min_width, f.min_height)
    return bool(f.cameras) or any(part is not None for part in image_parts)


def _candidate_queries(photo_filter: PhotoFilter, model_id: int) -> list[Select[tuple[int]]]:
    """One query of embedding ids per folder of the filter (one for none); ids may repeat."""
    source = _JOINED if _needs_images(photo_filter) else _FILES_TO_EMBEDDINGS
    where = _conditions(photo_filter, model_id, folders=False)
    query = select(embeddings.c.id).select_from(source).where(*where)
    if not photo_filter.folders:
        return [query]
    return [query.where(_under(folder)) for folder in dict.fromkeys(photo_filter.folders)]


_ROW_COLUMNS = (
    files.c.id,
    embeddings.c.id.label("embedding_id"),
    files.c.path,
    images.c.width,
    images.c.height,
    taken_at.label("taken_at"),
    images.c.captured_at,
    images.c.camera,
    files.c.size,
)


@functools.lru_cache(maxsize=64)
def _rows_query(photo_filter: PhotoFilter, model_id: int) -> Select[Any]:
    """The rows behind the embedding ids bound as `ids`, built once per filter (building the
    statement cost more than SQLite's answer for a page of results)."""
    ids: BindParameter[list[int]] = bindparam("ids", expanding=True)
    return (
        select(*_ROW_COLUMNS)
        .select_from(_JOINED)
        .where(*_conditions(photo_filter, model_id), embeddings.c.id.in_(ids))
        .order_by(files.c.path)
    )


def _chunks(items: Sequence[Any]) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), SQL_CHUNK):
        yield items[start : start + SQL_CHUNK]


class PhotoQueries:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._candidates = CandidateCache()

    def candidates(self, photo_filter: PhotoFilter, model_id: int) -> NDArray[np.int64]:
        """Ids of the embeddings that have at least one photo the filter admits, sorted,
        read-only (shared with later queries of the same filter while the store is unchanged).

        Only ids are read: the join starts from the files (a folder is one range of the covering
        index `ix_files_path_status_image`), reaches the embedding through its unique
        (image_id, model_id) index and joins `images` only when a condition needs it; several
        folders are one range each, merged here."""
        with snapshot(self.engine) as conn:  # one snapshot for the stamp and the ids
            key = (photo_filter, model_id, filter_stamp(conn))
            cached = self._candidates.get(key)
            if cached is not None:
                return cached
            parts = [
                np.fromiter(conn.execute(query).scalars(), dtype=np.int64)
                for query in _candidate_queries(photo_filter, model_id)
            ]
        ids = np.unique(np.concatenate(parts)) if parts else np.zeros(0, np.int64)
        return self._candidates.put(key, ids)

    def photos_of(
        self, embedding_ids: Sequence[int], model_id: int, photo_filter: PhotoFilter
    ) -> dict[int, list[PhotoRow]]:
        """The admitted photos behind each embedding id, sorted by path."""
        found: dict[int, list[PhotoRow]] = {}
        query = _rows_query(photo_filter, model_id)
        with self.engine.connect() as conn:
            for chunk in _chunks(list(embedding_ids)):
                rows = conn.execute(query, {"ids": list(chunk)})
                for row in rows:
                    found.setdefault(row.embedding_id, []).append(PhotoRow(**row._mapping))
        return found

    def photo(self, photo_id: int, model_id: int | None) -> PhotoRow | None:
        """One indexed photo (status ok) by id; `embedding_id` -1: no vector of the model."""
        join = files.join(images, images.c.id == files.c.image_id).outerjoin(
            embeddings,
            and_(embeddings.c.image_id == images.c.id, embeddings.c.model_id == (model_id or -1)),
        )
        query = (
            select(*_ROW_COLUMNS)
            .select_from(join)
            .where(files.c.id == photo_id, files.c.status == "ok")
        )
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        if row is None:
            return None
        values = dict(row._mapping)
        values["embedding_id"] = -1 if values["embedding_id"] is None else values["embedding_id"]
        return PhotoRow(**values)

    def tagged(
        self, label: str, model_id: int, limit: int, offset: int = 0
    ) -> list[tuple[PhotoRow, float]]:
        """The photos carrying a tag (any vocabulary), best tag score first, with that score."""
        score = func.max(tags.c.score).label("tag_score")
        query = (
            select(*_ROW_COLUMNS, score)
            .select_from(_JOINED.join(tags, tags.c.embedding_id == embeddings.c.id))
            .where(*_conditions(PhotoFilter(), model_id), tags.c.label == label)
            .group_by(files.c.id)
            .order_by(score.desc(), files.c.path)
            .limit(limit)
            .offset(offset)
        )
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        found = []
        for row in rows:
            values = dict(row._mapping)
            tag_score = float(values.pop("tag_score"))
            found.append((PhotoRow(**values), tag_score))
        return found

    def folders(self) -> list[str]:
        """Every folder directly holding an indexed photo, sorted."""
        query = select(files.c.path).where(files.c.status == "ok")
        with self.engine.connect() as conn:
            return sorted({os.path.dirname(path) for path in conn.execute(query).scalars()})

    def photo_id_of(self, path: str) -> int | None:
        with self.engine.connect() as conn:
            value = conn.execute(select(files.c.id).where(files.c.path == path)).scalar()
        return None if value is None else int(value)

    def vectors(
        self, embedding_ids: Sequence[int], dim: int
    ) -> tuple[NDArray[np.int64], NDArray[np.float32]]:
        """(ids, vectors) for these embedding ids, in the order the store returns them."""
        got_ids: list[int] = []
        blobs: list[bytes] = []
        with self.engine.connect() as conn:
            for chunk in _chunks(list(embedding_ids)):
                rows = conn.execute(
                    select(embeddings.c.id, embeddings.c.vector).where(embeddings.c.id.in_(chunk))
                )
                for row in rows:
                    got_ids.append(int(row.id))
                    blobs.append(row.vector)
        ids = np.asarray(got_ids, dtype=np.int64)
        vectors = stacked_vectors(got_ids, blobs, dim)
        return ids, vectors
