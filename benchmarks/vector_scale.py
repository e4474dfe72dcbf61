"""Vector search at scale: build time, memory, recall@10 and latency of the library's vector index.

For each vector set a library is filled with N synthetic unit 512-d vectors written straight into
SQLite under a ViT-B-32 model with random weights (so text encoding costs what the real one
does): `structured` (clustered like real embeddings: a Zipf-sized mix of topics with an
anisotropic spectrum, a photo near its topic) and `isotropic` (uniform on the sphere: the worst
case for any approximate index). 1% of the photos lie in folder `f1/`, 20% in `f20/`. Then:

- `build_s`, `build_peak_rss_mib`: `LibraryService.index`'s index step (`build_now`) in a fresh
  process: read from SQLite, train and fill the index the library chooses at this size;
- in another fresh process: `index_rss_mib` (RSS after loading the index and searching, minus
  before; `index_rss_anon_mib` without mapped file pages), `recall_at_10` of the public search
  path against exact search (faiss `IndexFlatIP`) over the same vectors, `search_p50/p99_ms`
  (one query per call), `filtered_1pct/20pct_p50_ms` and their recall (the service with a
  folder filter and a vector query);
- `http_text_p50/p99_ms`, `http_text_filtered_1pct/20pct_p50/p99_ms`: text queries (ViT-B-32
  text tower included) through `searchapp serve` on 127.0.0.1, timed by an httpx client, each
  text new to the server; `http_text_repeated_p50/p99_ms`: the unfiltered texts sent again (the
  server keeps the vectors of recent texts, so these skip the text tower);
- `cli_cold_s`: wall time of a new `searchapp search TEXT --json` process (page cache warm).

    python benchmarks/vector_scale.py [--n 100000] [--json FILE] [--sets structured,isotropic]
        [--keep DIR [--no-build]]   # keep the generated libraries in DIR and reuse them
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import ForeignCpu, emit, log, machine_info

DIM = 512
CHUNK = 50_000
MODEL = "ViT-B-32"
SEARCH_COMMAND = [sys.executable, "-m", "searchapp"]
TEXTS = [f"a photo of {w}" for w in ("a dog", "the beach", "a birthday cake", "snow", "a car")]


def vector_set(kind: str, n: int, seed: int) -> NDArray[np.float32]:
    """`n` unit vectors of the set, generated chunk by chunk (the same for a given seed)."""
    rng = np.random.default_rng(seed)
    if kind == "isotropic":
        out = rng.standard_normal((n, DIM), dtype=np.float32)
        return out / np.linalg.norm(out, axis=1, keepdims=True)
    topics = max(16, n // 200)
    spectrum = (1.0 / np.arange(1, DIM + 1) ** 0.5).astype(np.float32)
    centre_rng = np.random.default_rng(1234)  # the same topics for photos and queries
    centres = centre_rng.standard_normal((topics, DIM), dtype=np.float32) * spectrum
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    sizes = centre_rng.zipf(1.5, topics).astype(np.float64)
    which = rng.choice(topics, n, p=sizes / sizes.sum())
    noise = rng.standard_normal((n, DIM), dtype=np.float32) * spectrum
    noise /= np.linalg.norm(noise, axis=1, keepdims=True)
    out = centres[which] + 0.8 * noise
    return out / np.linalg.norm(out, axis=1, keepdims=True)


def folder_of(i: int) -> str:
    """1% of photos in f1/, 20% in f20/, the rest in other/ (spread evenly over ids)."""
    if i % 100 == 0:
        return "f1"
    return "f20" if i % 5 == 1 else "other"


def fill(data_dir: Path, kind: str, n: int, rows_path: Path, checkpoint: Path) -> None:
    from searchapp.config import Settings
    from searchapp.library import Library
    from searchapp.models.base import ModelSpec

    library = Library(Settings(data_dir=data_dir))
    model = library.indexing_model(ModelSpec(MODEL, str(checkpoint)))
    library.store.activate_model(model.id)
    rows = np.lib.format.open_memmap(rows_path, "w+", np.float32, (n, DIM))
    raw = library.store.engine.raw_connection()
    try:
        cursor = raw.cursor()
        for start in range(0, n, CHUNK):
            count = min(CHUNK, n - start)
            vectors = vector_set(kind, count, seed=start + 1)
            rows[start : start + count] = vectors
            ids = range(start + 1, start + count + 1)
            cursor.executemany(
                "INSERT INTO images (id, content_hash, width, height, captured_at) "
                "VALUES (?, ?, 4000, 3000, '2024-06-01T12:00:00')",
                [(i, f"{i:040x}") for i in ids],
            )
            cursor.executemany(
                "INSERT INTO files (id, path, size, mtime_ns, content_hash, image_id, status, "
                "indexed_at) VALUES (?, ?, 1, 1, ?, ?, 'ok', 0)",
                [(i, f"/bench/{folder_of(i)}/p{i:07d}.jpg", f"{i:040x}", i) for i in ids],
            )
            cursor.executemany(
                "INSERT INTO embeddings (id, image_id, model_id, vector) VALUES (?, ?, ?, ?)",
                [(i, i, model.id, v.tobytes()) for i, v in zip(ids, vectors, strict=True)],
            )
            raw.commit()
    finally:
        raw.close()
    rows.flush()
    library.close()


def _rss() -> tuple[float, float]:
    """(RSS, anonymous RSS) of this process in MiB."""
    values = {}
    with open("/proc/self/status", encoding="utf-8") as fh:
        for line in fh:
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "RssAnon"):
                values[key] = int(rest.split()[0]) / 1024
    return values.get("VmRSS", 0.0), values.get("RssAnon", 0.0)


def build_once(data_dir: Path) -> dict[str, Any]:
    """Fresh process: the index step of `searchapp index` (the library's choice at its size)."""
    from searchapp.config import Settings
    from searchapp.service import LibraryService

    settings = Settings(data_dir=data_dir)
    shutil.rmtree(settings.vectors_dir, ignore_errors=True)  # a kept library's earlier index
    with LibraryService(settings) as service:
        model = service.query_model()
        with ForeignCpu() as cpu:
            index = service.library.live_index(model).build_now()
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        return {
            "kind": index.kind,
            "params": index.manifest.params,
            "build_s": round(cpu.wall_s, 1),
            "build_peak_rss_mib": round(peak),
            "build_cpu": cpu.as_dict(),
        }


def _stage_medians(responses: list[dict[str, float]]) -> dict[str, float]:
    stages = {key for timings in responses for key in timings}
    return {
        key: round(statistics.median(t.get(key, 0.0) for t in responses), 2)
        for key in sorted(stages)
    }


def _percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return (
        round(statistics.median(ordered), 2),
        round(ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))], 2),
    )


def _recall(found: list[list[int]], truth: list[list[int]]) -> float:
    hits = [
        len(set(f[:10]) & set(t[:10])) / max(1, min(10, len(t)))
        for f, t in zip(found, truth, strict=True)
    ]
    return round(float(np.mean(hits)), 4)


def query_once(data_dir: Path, work: Path, service_queries: int) -> dict[str, Any]:
    """Fresh process: load the index, then recall and latency of the search paths."""
    from searchapp.config import Settings
    from searchapp.query import Query, VectorTerm, WeightedTerm
    from searchapp.search import SearchOptions
    from searchapp.service import LibraryService
    from searchapp.store.photo_queries import PhotoFilter

    queries = np.load(work / "queries.npy")
    truth = json.loads((work / "truth.json").read_text())
    before, before_anon = _rss()
    with LibraryService(Settings(data_dir=data_dir)) as service:
        model = service.query_model()
        started = time.perf_counter()
        index = service.library.vector_index(model)
        load_s = time.perf_counter() - started
        found: list[list[int]] = []
        latencies = []
        for query in queries:
            t0 = time.perf_counter()
            _, ids = index.search(query[None, :], 10)
            latencies.append((time.perf_counter() - t0) * 1000)
            found.append(ids[0].tolist())
        after, after_anon = _rss()
        result: dict[str, Any] = {
            "kind": index.kind,
            "index_load_s": round(load_s, 2),
            "index_rss_mib": round(after - before),
            "index_rss_anon_mib": round(after_anon - before_anon),
            "recall_at_10": _recall(found, truth["all"]),
        }
        result["search_p50_ms"], result["search_p99_ms"] = _percentiles(latencies)
        for name, folder in (("1pct", "/bench/f1"), ("20pct", "/bench/f20")):
            latencies, found, stages = [], [], []
            for query in queries[:service_queries]:
                term = Query((WeightedTerm(VectorTerm(query)),))
                t0 = time.perf_counter()
                response = service.search(term, PhotoFilter(folders=(folder,)), SearchOptions())
                latencies.append((time.perf_counter() - t0) * 1000)
                found.append([hit.id for hit in response.results])
                stages.append(response.timings)
            result[f"filtered_{name}_p50_ms"], result[f"filtered_{name}_p99_ms"] = _percentiles(
                latencies
            )
            result[f"filtered_{name}_recall_at_10"] = _recall(found, truth[name][:service_queries])
            result[f"filtered_{name}_stages_ms"] = _stage_medians(stages)
        service.search(TEXTS[0])  # the first text query saves the fast text encoder
    result.update(http_text(data_dir, service_queries))
    return result


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def http_text(data_dir: Path, queries: int) -> dict[str, Any]:
    """Text queries (ViT-B-32 text tower included) through `searchapp serve` on loopback, with
    an httpx client: unfiltered, and with the 1% and 20% folder filters, every text distinct;
    then the unfiltered texts again (repeated queries). Client-side latency."""
    import httpx

    port = _free_port()
    server = subprocess.Popen(
        [*SEARCH_COMMAND, "--data-dir", str(data_dir), "serve", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    result: dict[str, Any] = {"http_text_via": "searchapp serve on 127.0.0.1, httpx client"}
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=120) as client:
            deadline = time.monotonic() + 300
            while True:
                try:
                    if client.get("/health").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"searchapp serve did not start: {server.stderr}")
                time.sleep(0.2)
            client.get("/search", params={"q": TEXTS[0]}).raise_for_status()  # warm up
            for name, folder, tag in (
                ("", None, ""),
                ("filtered_1pct_", "/bench/f1", "f1 "),
                ("filtered_20pct_", "/bench/f20", "f20 "),
                ("repeated_", None, ""),
            ):
                latencies, stages = [], []
                for round_ in range(queries):
                    text = f"{TEXTS[round_ % len(TEXTS)]} {tag}{round_}"
                    params: dict[str, Any] = {"q": text}
                    if folder:
                        params["folder"] = [folder]
                    t0 = time.perf_counter()
                    response = client.get("/search", params=params)
                    latencies.append((time.perf_counter() - t0) * 1000)
                    response.raise_for_status()
                    stages.append(response.json()["timings"])
                key = f"http_text_{name}" if name else "http_text_"
                result[f"{key}stages_ms"] = _stage_medians(stages)
                result[f"{key}p50_ms"], result[f"{key}p99_ms"] = _percentiles(latencies)
    finally:
        server.terminate()
        server.wait(timeout=60)
    return result


def ground_truth(rows: NDArray[np.float32], queries: NDArray[np.float32]) -> dict[str, Any]:
    """Exact top-10 ids (1-based) over all rows and over each filtered folder."""
    import faiss

    truth: dict[str, Any] = {}
    ids = np.arange(1, len(rows) + 1)
    for name, keep in (
        ("all", np.ones(len(rows), dtype=bool)),
        ("1pct", ids % 100 == 0),
        ("20pct", (ids % 5 == 1) & (ids % 100 != 0)),
    ):
        chosen = np.flatnonzero(keep)
        flat = faiss.IndexFlatIP(DIM)
        for start in range(0, len(chosen), CHUNK):
            flat.add(np.ascontiguousarray(rows[chosen[start : start + CHUNK]]))
        _, found = flat.search(queries, 10)
        truth[name] = (chosen[found] + 1).tolist()
    return truth


def cli_cold(data_dir: Path, runs: int = 3) -> float:
    times = []
    for i in range(runs):
        started = time.perf_counter()
        subprocess.run(
            [
                *SEARCH_COMMAND,
                "--data-dir",
                str(data_dir),
                "search",
                TEXTS[i % len(TEXTS)],
                "--json",
            ],
            check=True,
            capture_output=True,
        )
        times.append(time.perf_counter() - started)
    return round(statistics.median(times), 2)


def _child(mode: str, *args: Path | int) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, __file__, f"--{mode}", *map(str, args)],
        check=True,
        capture_output=True,
        text=True,
    )
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def run_set(
    kind: str,
    n: int,
    queries: int,
    service_queries: int,
    work: Path,
    checkpoint: Path,
    keep: bool = False,
    build: bool = True,
) -> dict[str, Any]:
    """With `keep` the library, its rows and the ground truth stay in `work` and a later run
    with the same `work` reuses them (filling 1M takes minutes); the index is built again."""
    data_dir = work / f"{kind}-{n}"
    rows_path = work / f"{kind}-{n}-rows.npy"
    filled = work / f"{kind}-{n}.filled"
    truth_dir = work / f"{kind}-{n}-truth-{queries}"
    if not filled.exists():
        if data_dir.exists():
            shutil.rmtree(data_dir)
        log(f"{kind}: filling a library with {n} vectors …")
        started = time.perf_counter()
        fill(data_dir, kind, n, rows_path, checkpoint)
        filled.write_text(f"{time.perf_counter() - started:.0f} s\n")
        log(f"  filled in {time.perf_counter() - started:.0f} s")
    if not (truth_dir / "truth.json").exists():
        rows = np.load(rows_path, mmap_mode="r")
        query_vectors = vector_set(kind, queries, seed=10**9)
        truth_dir.mkdir(exist_ok=True)
        np.save(truth_dir / "queries.npy", query_vectors)
        (truth_dir / "truth.json").write_text(json.dumps(ground_truth(rows, query_vectors)))
        del rows
        log("  ground truth done")
    result: dict[str, Any] = {"n": n}
    if build:
        log("  building the index …")
        result.update(_child("build-only", data_dir))
        log(f"  {json.dumps(result)}")
    result["load_average_1m_before_queries"] = round(os.getloadavg()[0], 2)
    log("  searching …")
    result.update(_child("query-only", data_dir, truth_dir, service_queries))
    result["cli_cold_s"] = cli_cold(data_dir)
    result["load_average_1m_after"] = round(os.getloadavg()[0], 2)
    log(f"  {json.dumps(result)}")
    if not keep:
        rows_path.unlink()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--json", type=Path, default=None, help="Also write the JSON here.")
    parser.add_argument("--sets", default="structured,isotropic")
    parser.add_argument("--queries", type=int, default=200, help="Vector queries per set.")
    parser.add_argument(
        "--service-queries", type=int, default=60, help="Filtered and text queries per set."
    )
    parser.add_argument("--work", type=Path, default=None, help="Where to build the libraries.")
    parser.add_argument(
        "--keep",
        type=Path,
        default=None,
        help="Keep the libraries in this folder and reuse them in later runs (not removed).",
    )
    parser.add_argument(
        "--no-build",
        action="store_true",
        help="With --keep: search the index already built (build_s is then left out).",
    )
    parser.add_argument("--build-only", type=Path, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--query-only", nargs=3, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.build_only is not None:
        emit(build_once(args.build_only))
        return
    if args.query_only is not None:
        data_dir, work, service_queries = args.query_only
        emit(query_once(Path(data_dir), Path(work), int(service_queries)))
        return
    from make_random_checkpoint import random_checkpoint

    checkpoint = random_checkpoint(MODEL, Path("~/.cache/searchapp-bench/checkpoints"))
    sets: dict[str, Any] = {}
    with contextlib.ExitStack() as stack:
        if args.keep is not None:
            args.keep.mkdir(parents=True, exist_ok=True)
            work = args.keep
        else:
            work = Path(stack.enter_context(tempfile.TemporaryDirectory(dir=args.work)))
        for kind in args.sets.split(","):
            sets[kind] = run_set(
                kind,
                args.n,
                args.queries,
                args.service_queries,
                work,
                checkpoint,
                keep=args.keep is not None,
                build=not (args.no_build and args.keep is not None),
            )
    result = {
        "benchmark": "vector_scale",
        "n": args.n,
        "command": " ".join(sys.argv),
        "machine": machine_info(),
        **sets,
    }
    emit(result)
    if args.json is not None:
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
