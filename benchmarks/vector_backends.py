"""Vector backends side by side on one machine: insert rate, single-query latency (p50/p99),
recall@10 against exact search and resident memory (after the build and the queries), for FAISS
exact (the `VectorIndex` exact path), FAISS IVF-SQ8 (`plan_for` + `train_ann`, searched through
`VectorIndex`) and Milvus (milvus-lite, FLAT/IP, the calls `MilvusBackend` makes: upserts of
2,000 rows, a flush, `search`).

Each backend runs in its own process (so its memory is its own), in the order given, repeated
`--rounds` times interleaved; medians are reported, and per million vectors by linear
extrapolation (flat indexes grow linearly with n; stated as extrapolated in the output).

    PYTHONPATH=. python benchmarks/vector_backends.py [--size 100000] [--dim 512] [--rounds 1]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from _common import emit, log, machine_info
from numpy.typing import NDArray

BACKENDS = ("faiss-exact", "faiss-ivf-sq8", "milvus-lite-flat")
"""Also `milvus-lite-hnsw`, `milvus-lite-ivf_flat` (slow to build on milvus-lite: over 12 min at
100k on the loaded 2 cores)."""
K = 10


def _rss_mib(field: str = "VmRSS") -> float:
    """Resident memory (VmRSS: anonymous + mapped file pages; RssAnon: anonymous only)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return 0.0


def _unit(n: int, dim: int, seed: int, data: str) -> NDArray[np.float32]:
    """Isotropic random unit vectors, or clustered ones (1,000 centres, like photo events)."""
    rng = np.random.default_rng(seed)
    vectors = rng.standard_normal((n, dim), dtype=np.float32)
    if data == "clustered":
        centres = np.random.default_rng(0).standard_normal((1_000, dim), dtype=np.float32)
        vectors = centres[rng.integers(0, 1_000, n)] + 0.5 * vectors
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def _faiss(kind: str, ids: NDArray[np.int64], vectors: NDArray[np.float32], folder: str) -> Any:
    """What a build does: the rows written to the base's file (fsync) and memory-mapped, then
    for IVF-SQ8 the index trained and filled."""
    from searchapp.vector_base import (
        VECTORS_FILE,
        BaseVectors,
        IndexPlan,
        plan_for,
        train_ann,
        write_rows,
    )
    from searchapp.vectors import Manifest, VectorIndex

    pages = ((ids[s : s + 20_000], vectors[s : s + 20_000]) for s in range(0, len(ids), 20_000))
    write_rows(Path(folder), pages, len(ids))
    rows = np.memmap(Path(folder) / VECTORS_FILE, np.float32, "r", shape=vectors.shape)
    plan = IndexPlan() if kind == "faiss-exact" else plan_for(len(ids), 1)
    ann = None if kind == "faiss-exact" else train_ann(rows, ids, plan)
    base = BaseVectors(ids, rows, plan, ann)
    return VectorIndex(base, Manifest("bench", 1, len(ids), vectors.shape[1])), plan.as_dict()


def _milvus(
    ids: NDArray[np.int64], vectors: NDArray[np.float32], folder: str, index_type: str
) -> Any:
    from pymilvus import DataType, MilvusClient

    client = MilvusClient(str(Path(folder) / "bench.db"))
    schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("vector", DataType.FLOAT_VECTOR, dim=vectors.shape[1])
    index = client.prepare_index_params()
    index.add_index("vector", index_type=index_type, metric_type="IP")
    client.create_collection("bench", schema=schema, index_params=index, consistency_level="Strong")
    for start in range(0, len(ids), 2_000):
        rows = [
            {"id": int(i), "vector": v}
            for i, v in zip(
                ids[start : start + 2_000].tolist(),
                vectors[start : start + 2_000].tolist(),
                strict=True,
            )
        ]
        client.upsert("bench", rows)
    client.flush("bench")  # as MilvusBackend does after writing
    client.load_collection("bench")

    def search(queries: NDArray[np.float32], k: int) -> tuple[Any, NDArray[np.int64]]:
        hits = client.search(
            "bench", data=queries.tolist(), limit=k, output_fields=["id"],
            search_params={"metric_type": "IP"},
        )  # fmt: skip
        return None, np.asarray([[h["id"] for h in row] for row in hits], np.int64)

    return search, {"index_type": index_type, "metric": "IP", "batch": 2_000}


def measure(kind: str, size: int, dim: int, n_queries: int, data: str) -> dict[str, Any]:
    """One backend, in this process: build, then single queries one at a time. Memory is the
    process's resident growth from before the vectors existed to after the build, with the
    benchmark's own float32 copy dropped where the backend does not use it (Milvus)."""
    import faiss  # noqa: F401  (imported before the baseline, like the modules below)

    import searchapp.vectors  # noqa: F401

    if kind.startswith("milvus"):
        import pymilvus  # noqa: F401
    baseline, baseline_anon = _rss_mib(), _rss_mib("RssAnon")
    vectors = _unit(size, dim, seed=1, data=data)
    ids = np.arange(1, size + 1, dtype=np.int64)
    queries = _unit(n_queries, dim, seed=2, data=data)
    truth = np.argsort(-(queries @ vectors.T), axis=1)[:, :K] + 1
    data_mib = vectors.nbytes / 2**20
    with tempfile.TemporaryDirectory(prefix="bench-vectors-") as folder:
        started = time.perf_counter()
        if kind.startswith("milvus"):
            search, params = _milvus(ids, vectors, folder, kind.split("-")[-1].upper())
            del vectors
        else:
            index, params = _faiss(kind, ids, vectors, folder)
            del vectors  # the index reads its memory-mapped row file, as in use
            search = index.search
        insert_s = time.perf_counter() - started
        latencies, found = [], []
        for q in queries:
            t = time.perf_counter()
            _, got = search(q.reshape(1, -1), K)
            latencies.append((time.perf_counter() - t) * 1000)
            found.append(got[0])
        resident, anon = _rss_mib() - baseline, _rss_mib("RssAnon") - baseline_anon
        pairs = zip(found, truth, strict=True)
        recall = float(np.mean([len(set(f) & set(t)) / K for f, t in pairs]))
    return {
        "backend": kind,
        "params": params,
        "insert_per_s": round(size / insert_s),
        "insert_s": round(insert_s, 2),
        "query_ms_p50": round(float(np.percentile(latencies, 50)), 3),
        "query_ms_p99": round(float(np.percentile(latencies, 99)), 3),
        "recall_at_10": round(recall, 4),
        "rss_delta_mib": round(resident, 1),
        "rss_anon_delta_mib": round(anon, 1),
        "raw_vectors_mib": round(data_mib, 1),
    }


def _median(runs: list[dict[str, Any]]) -> dict[str, Any]:
    out = dict(runs[0])
    keys = ("insert_per_s", "insert_s", "query_ms_p50", "query_ms_p99", "rss_delta_mib")
    for key in (*keys, "rss_anon_delta_mib"):
        out[key] = statistics.median(run[key] for run in runs)
    out["rounds"] = len(runs)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=100_000)
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--backends", default=",".join(BACKENDS))
    parser.add_argument("--data", choices=("random", "clustered"), default="random")
    parser.add_argument("--milvus-queries", type=int, help="fewer queries for slow backends")
    parser.add_argument("--only", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.only:
        emit(measure(args.only, args.size, args.dim, args.queries, args.data))
        return
    runs: dict[str, list[dict[str, Any]]] = {}
    load_before = os.getloadavg()
    for round_ in range(args.rounds):
        for kind in args.backends.split(","):
            log(f"round {round_ + 1}: {kind} at {args.size} x {args.dim}")
            queries = args.queries
            if kind.startswith("milvus") and args.milvus_queries:
                queries = args.milvus_queries
            done = subprocess.run(
                [sys.executable, __file__, "--only", kind, "--size", str(args.size),
                 "--dim", str(args.dim), "--queries", str(queries), "--data", args.data],
                capture_output=True, text=True, check=True, env=os.environ,
            )  # fmt: skip
            runs.setdefault(kind, []).append(json.loads(done.stdout))
            log(json.dumps(runs[kind][-1]))  # each result as it comes, in case a later one fails
    results = []
    for runs_of_kind in runs.values():
        result = _median(runs_of_kind)
        scale = 1_000_000 / args.size
        result["per_million_extrapolated"] = {
            "rss_mib": round(result["rss_delta_mib"] * scale),
            "insert_s": round(result["insert_s"] * scale, 1),
            "note": "linear extrapolation from the measured size; flat search time grows ~n",
        }
        results.append(result)
    emit(
        {
            "benchmark": "vector_backends",
            "size": args.size,
            "dim": args.dim,
            "queries": args.queries,
            "milvus_queries": args.milvus_queries or args.queries,
            "data": args.data,
            "k": K,
            "load_average_before": [round(x, 2) for x in load_before],
            "load_average_after": [round(x, 2) for x in os.getloadavg()],
            "machine": machine_info(),
            "results": results,
        }
    )


if __name__ == "__main__":
    main()
