"""What a library's SQLite store holds, read with plain SQL, to compare two runs."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray


@dataclass(frozen=True)
class StoredFile:
    status: str
    error: str | None
    content_hash: str | None
    vector: NDArray[np.float32] | None


def stored_files(data_dir: Path) -> dict[str, StoredFile]:
    with sqlite3.connect(data_dir / "library.sqlite3") as db:
        rows = db.execute(
            "SELECT f.path, f.status, f.error, f.content_hash, e.vector FROM files f "
            "LEFT JOIN embeddings e ON e.image_id = f.image_id"
        ).fetchall()
    return {
        path: StoredFile(
            status, error, digest, None if blob is None else np.frombuffer(blob, np.float32)
        )
        for path, status, error, digest, blob in rows
    }


def row_counts(data_dir: Path) -> dict[str, int]:
    """Rows per table, and the content hashes or (image, model) pairs stored more than once."""
    with sqlite3.connect(data_dir / "library.sqlite3") as db:
        count = {
            t: db.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
            for t in ("files", "images", "embeddings")
        }
        count["repeated_contents"] = db.execute(
            "SELECT count(*) FROM (SELECT content_hash FROM images GROUP BY content_hash "
            "HAVING count(*) > 1)"
        ).fetchone()[0]
        count["repeated_vectors"] = db.execute(
            "SELECT count(*) FROM (SELECT image_id FROM embeddings GROUP BY image_id, model_id "
            "HAVING count(*) > 1)"
        ).fetchone()[0]
        count["images_without_files"] = db.execute(
            "SELECT count(*) FROM images WHERE id NOT IN "
            "(SELECT image_id FROM files WHERE image_id IS NOT NULL)"
        ).fetchone()[0]
    return count
