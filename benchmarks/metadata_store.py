"""Metadata store on one node: insert rate and query latency, SQLite vs PostgreSQL, side by side.

Each round fills a new SQLite file and a new PostgreSQL database (in that order, then the other
way round, alternating) with `--n` photos through `Store.write_batch` in batches of 32, as the
indexer writes them (512-d vectors, one image and one file per photo, EXIF-like metadata), then
times the queries a search and a re-index make: the filter candidates of a folder (10% of the
photos) and of a date range, the photos behind a page of 10 result ids, one photo by id, and
the scan of every known file. `--writers W` also fills PostgreSQL from W threads (each its own
engine, as W worker processes would) writing the same photos, each starting at another place,
as overlapping workers do: the rate is distinct photos stored per second, all writers together
(they commit one after another).

The PostgreSQL server (tests/postgres_server.py, so run from the repository root with
PYTHONPATH=.) runs in a temporary directory with PostgreSQL's durable defaults (fsync on).
"postgresql" commits synchronously (each batch flushed to the WAL on disk);
"postgresql_async_commit" sets `synchronous_commit=off` for its database, which is what
SQLite's WAL with `synchronous=NORMAL` (the store's setting) does: a power cut may lose the
last commits, never consistency.

    PYTHONPATH=. python benchmarks/metadata_store.py [--n 20000] [--rounds 3] [--writers 4]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import emit, log, machine_info

DIM = 512
BATCH = 32
FOLDERS = 10


def _photos(n: int, seed: int = 0) -> list[Any]:
    from searchapp.store import EmbeddedFile, ImageMeta
    from searchapp.store.records import FileStat

    rng = np.random.default_rng(seed)
    vectors = rng.standard_normal((n, DIM)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    photos = []
    for i in range(n):
        day = date(2015 + i % 10, 1 + i % 12, 1 + i % 28).isoformat()
        stat = FileStat(f"/library/folder_{i % FOLDERS:02d}/photo_{i:07d}.jpg", 2_000_000 + i, i)
        meta = ImageMeta(4000, 3000, f"{day}T12:00:00", "Canon EOS R6", 1, f"{i:016x}")
        photos.append(EmbeddedFile(stat, f"{i:064x}", meta, vectors[i]))
    return photos


def _fill(store: Any, model_id: int, photos: list[Any]) -> float:
    started = time.perf_counter()
    for start in range(0, len(photos), BATCH):
        store.write_batch(model_id, photos[start : start + BATCH])
    return len(photos) / (time.perf_counter() - started)


def _fill_concurrently(url: str, photos: list[Any], writers: int) -> float:
    from searchapp.store import Store

    stores = [Store(url) for _ in range(writers)]
    model_id = _model(stores[0])
    shift = len(photos) // writers
    orders = [photos[w * shift :] + photos[: w * shift] for w in range(writers)]
    threads = [
        threading.Thread(target=_fill, args=(store, model_id, order))
        for store, order in zip(stores, orders, strict=True)
    ]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    counts = stores[0].vectors.counts()
    for store in stores:
        store.close()
    assert counts["files_ok"] == len(photos) == counts["embeddings"], counts
    return len(photos) / elapsed  # distinct photos stored per second, all writers together


def _model(store: Any) -> int:
    from searchapp.models.base import ModelIdentity

    model = store.register_model(ModelIdentity("open_clip", "bench", "w", "c"), None, None, DIM)
    store.activate_model(model.id)
    return int(model.id)


def _latencies(action: Callable[[], object], repeats: int) -> list[float]:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        action()
        times.append((time.perf_counter() - started) * 1000)
    return times


def _queries(store: Any, model_id: int, n: int, repeats: int) -> dict[str, list[float]]:
    from searchapp.store.photo_queries import PhotoFilter

    rng = np.random.default_rng(1)
    folder = PhotoFilter(folders=("/library/folder_03",))
    dates = PhotoFilter(taken_after=date(2016, 1, 1), taken_before=date(2016, 12, 31))
    return {
        "folder_candidates_ms": _latencies(lambda: store.photos.candidates(folder, model_id), 5),
        "date_candidates_ms": _latencies(lambda: store.photos.candidates(dates, model_id), 5),
        "result_page_ms": _latencies(
            lambda: store.photos.photos_of(
                rng.integers(1, n, 10).tolist(), model_id, PhotoFilter()
            ),
            repeats,
        ),
        "photo_by_id_ms": _latencies(
            lambda: store.photos.photo(int(rng.integers(1, n)), model_id), repeats
        ),
        "known_files_scan_ms": _latencies(lambda: store.known_files(["/library"], model_id), 3),
    }


def _summary(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {
        "p50": round(statistics.median(ordered), 3),
        "p99": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))], 3),
    }


KINDS = ("sqlite", "postgresql", "postgresql_async_commit")


def run(args: argparse.Namespace, server: Any) -> dict[str, Any]:
    from searchapp.store import Store

    def database(kind: str, scratch: str, round_number: int) -> Path | str:
        if kind == "sqlite":
            return Path(scratch) / f"r{round_number}.sqlite3"
        if kind == "postgresql":
            return str(server.create_database("bench"))
        return str(server.create_database("bench", synchronous_commit="off"))

    photos = _photos(args.n)
    rates: dict[str, list[float]] = {kind: [] for kind in KINDS}
    writers_kind = f"postgresql_async_commit_{args.writers}_writers"
    queries: dict[str, dict[str, list[float]]] = {kind: {} for kind in KINDS}
    with tempfile.TemporaryDirectory(prefix="metadata-bench-") as scratch:
        for round_number in range(args.rounds):
            kinds = list(KINDS) if round_number % 2 == 0 else list(reversed(KINDS))
            for kind in kinds:
                store = Store(database(kind, scratch, round_number))
                model_id = _model(store)
                rates[kind].append(_fill(store, model_id, photos))
                for name, values in _queries(store, model_id, args.n, args.repeats).items():
                    queries[kind].setdefault(name, []).extend(values)
                store.close()
                log(f"round {round_number} {kind}: {rates[kind][-1]:.0f} photos/s")
            if args.writers > 1:
                url = server.create_database("bench", synchronous_commit="off")
                rate = _fill_concurrently(url, photos, args.writers)
                rates.setdefault(writers_kind, []).append(rate)
                log(f"round {round_number} postgresql x{args.writers}: {rate:.0f} photos/s")
    return {
        "benchmark": "metadata_store",
        "n": args.n,
        "batch": BATCH,
        "rounds": args.rounds,
        "insert_photos_per_s_median": {k: round(statistics.median(v)) for k, v in rates.items()},
        "insert_photos_per_s_all": {k: [round(x) for x in v] for k, v in rates.items()},
        "query_latency": {
            kind: {name: _summary(values) for name, values in by_name.items()}
            for kind, by_name in queries.items()
        },
        "machine": machine_info(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20_000, help="photos per store per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=50, help="timed calls per point query")
    parser.add_argument("--writers", type=int, default=4, help="concurrent PostgreSQL writers")
    args = parser.parse_args()
    from tests.postgres_server import find_binaries, running_server

    binaries = find_binaries()
    if binaries is None:
        sys.exit("PostgreSQL is not installed (initdb, pg_ctl): apt-get install postgresql")
    with running_server(binaries, durable=True) as server:
        emit(run(args, server))


if __name__ == "__main__":
    main()
