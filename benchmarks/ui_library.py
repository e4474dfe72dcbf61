"""A large library for the UI's speed (`ui_latency.py`): the demo library (`searchapp demo`)
grown to --n photos. Photo i is a hard link to demo photo i mod 300 under its own path, and its
vector is that photo's vector plus a little noise (normalised), so every search ranks real,
distinct files and its thumbnails are real thumbnails; rows go straight into SQLite, and the
vector index is built on the first search, as after any large indexing run.

    python benchmarks/ui_library.py /tmp/ui-100k --n 100000 [--demo /tmp/demo-data/demo]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sqlite3
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import emit, log

CHUNK = 20_000
NOISE = 0.15


def grow(demo: Path, out: Path, n: int, seed: int) -> dict[str, object]:
    started = time.perf_counter()
    library = out / "library"
    if library.exists():
        shutil.rmtree(library)
    shutil.copytree(demo / "library", library, ignore=shutil.ignore_patterns("vectors", "thumb*"))
    photos = out / "photos"
    db = sqlite3.connect(library / "library.sqlite3")
    try:
        rows = db.execute(
            "SELECT f.path, i.width, i.height, e.vector, e.model_id FROM files f "
            "JOIN images i ON i.id = f.image_id JOIN embeddings e ON e.image_id = i.id "
            "WHERE f.status = 'ok' ORDER BY f.id"
        ).fetchall()
        base = np.stack([np.frombuffer(r[3], dtype=np.float32) for r in rows])
        model_id = int(rows[0][4])
        first = int(db.execute("SELECT max(id) FROM files").fetchone()[0]) + 1
        first_image = int(db.execute("SELECT max(id) FROM images").fetchone()[0]) + 1
        first_vector = int(db.execute("SELECT max(id) FROM embeddings").fetchone()[0]) + 1
        rng = np.random.default_rng(seed)
        for start in range(0, n - len(rows), CHUNK):
            count = min(CHUNK, n - len(rows) - start)
            which = (np.arange(start, start + count) + len(rows)) % len(rows)
            noise = rng.standard_normal((count, base.shape[1])).astype(np.float32) * NOISE
            vectors = (base[which] + noise / np.sqrt(base.shape[1])).astype(np.float32)
            vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
            files, images, embeddings = [], [], []
            for k in range(count):
                number = start + k
                source = Path(rows[which[k]][0])
                target = photos / f"{number // 1000:03d}" / f"{source.stem}-{number:06d}.png"
                target.parent.mkdir(parents=True, exist_ok=True)
                if not target.exists():
                    os.link(source, target)
                st = target.stat()
                content = f"{number:040x}"
                images.append((first_image + number, content, rows[which[k]][1], rows[which[k]][2]))
                files.append(
                    (first + number, str(target), st.st_size, st.st_mtime_ns, content,
                     first_image + number, st.st_ctime_ns, st.st_ino)
                )  # fmt: skip
                embeddings.append(
                    (first_vector + number, first_image + number, model_id, vectors[k].tobytes())
                )
            db.executemany(
                "INSERT INTO images (id, content_hash, width, height) VALUES (?, ?, ?, ?)", images
            )
            db.executemany(
                "INSERT INTO files (id, path, size, mtime_ns, content_hash, image_id, status, "
                "indexed_at, ctime_ns, inode) VALUES (?, ?, ?, ?, ?, ?, 'ok', 0, ?, ?)",
                files,
            )
            db.executemany(
                "INSERT INTO embeddings (id, image_id, model_id, vector) VALUES (?, ?, ?, ?)",
                embeddings,
            )
            db.commit()
            log(f"{len(rows) + start + count} photos")
        total = int(db.execute("SELECT count(*) FROM files WHERE status = 'ok'").fetchone()[0])
    finally:
        db.close()
    seconds = round(time.perf_counter() - started, 1)
    return {"library": str(library), "photos": total, "seconds": seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("out", type=Path)
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--demo", type=Path, default=Path("/tmp/demo-data/demo"))
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    emit(grow(args.demo, args.out, args.n, args.seed))


if __name__ == "__main__":
    main()
