"""What near-duplicate grouping needs to know of each image: its perceptual hash, resolution and
the files (status ok) that hold it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from searchapp.store.schema import embeddings, files, images

IN_CHUNK = 500


@dataclass(frozen=True)
class ImageFile:
    id: int
    path: str
    size: int


@dataclass
class ImageFacts:
    embedding_id: int
    phash: str | None
    width: int
    height: int
    files: list[ImageFile]


def image_facts(
    engine: Engine, model_id: int, embedding_ids: Sequence[int]
) -> dict[int, ImageFacts]:
    """Facts of these embeddings' images; images without a file (status ok) are left out."""
    query = (
        select(
            embeddings.c.id,
            images.c.phash,
            images.c.width,
            images.c.height,
            files.c.id.label("file_id"),
            files.c.path,
            files.c.size,
        )
        .join(images, images.c.id == embeddings.c.image_id)
        .join(files, files.c.image_id == images.c.id)
        .where(embeddings.c.model_id == model_id, files.c.status == "ok")
    )
    found: dict[int, ImageFacts] = {}
    ids = sorted(set(embedding_ids))
    with engine.connect() as conn:
        for start in range(0, len(ids), IN_CHUNK):
            chunk = ids[start : start + IN_CHUNK]
            for row in conn.execute(query.where(embeddings.c.id.in_(chunk))):
                facts = found.setdefault(
                    row.id, ImageFacts(row.id, row.phash, row.width, row.height, [])
                )
                facts.files.append(ImageFile(row.file_id, row.path, row.size))
    for facts in found.values():
        facts.files.sort(key=lambda f: (-f.size, f.path))
    return found


def embeddings_with_several_files(engine: Engine, model_id: int) -> list[int]:
    """Images stored under more than one path (identical copies)."""
    several = (
        select(files.c.image_id)
        .where(files.c.status == "ok", files.c.image_id.is_not(None))
        .group_by(files.c.image_id)
        .having(func.count() > 1)
    )
    query = select(embeddings.c.id).where(
        embeddings.c.model_id == model_id, embeddings.c.image_id.in_(several)
    )
    with engine.connect() as conn:
        return [int(i) for i in conn.execute(query).scalars()]


def files_per_content(engine: Engine, content_hashes: Sequence[str]) -> dict[str, int]:
    """How many files (status ok) hold each of these contents."""
    unique = sorted(set(content_hashes))
    counts: dict[str, int] = {}
    with engine.connect() as conn:
        for start in range(0, len(unique), IN_CHUNK):
            chunk = unique[start : start + IN_CHUNK]
            query = (
                select(files.c.content_hash, func.count())
                .where(files.c.status == "ok", files.c.content_hash.in_(chunk))
                .group_by(files.c.content_hash)
            )
            counts.update({str(h): int(n) for h, n in conn.execute(query)})
    return counts
