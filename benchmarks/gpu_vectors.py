"""The GPU check's vector-search part (see gpu_check.py): faiss over synthetic 512-d vectors.

For each size: unit vectors drawn around n/1000 random centres (so that clustering indexes
meet the kind of structure image embeddings have; uniform vectors on the sphere would make any
IVF look broken), and 1,000 queries (100 in a dry run) from the same mixture, made with torch
on the device. The exact top 10 of every query comes from a chunked matrix product in torch, in
fp32: the reference for recall@10, and itself measured as the brute-force baseline
(`torch_exact`). Then, as faiss indexes on the GPU (faiss.index_cpu_to_gpu; CPU faiss in a dry
run): `flat` (IndexFlatIP, what the app serves today; its recall must be 1.0) and `ivf` (IVF
with the power of two nearest 4·sqrt(n) lists, Flat, nprobe 32). Each: build seconds (train +
add), p50 latency of one query and of a batch of 64, recall@10, and device memory used. Where
the installed faiss has no GPU support, the faiss indexes are not measured on a GPU machine,
and the part fails saying so, with the torch numbers kept.
"""

from __future__ import annotations

import argparse
import math
import statistics
import time
from collections.abc import Callable
from typing import Any

from _common import PartFailed, ResultFile, log

DIM, K, NPROBE = 512, 10, 32
CHUNK = 1_000_000


def clustered(n: int, centres: Any, generator: Any) -> Any:
    """n unit vectors, each a random centre plus noise of about the same norm, normalised."""
    import torch

    out = torch.empty((n, DIM), device=centres.device)
    for start in range(0, n, CHUNK):
        size = min(CHUNK, n - start)
        picks = torch.randint(len(centres), (size,), device=centres.device, generator=generator)
        noise = torch.randn((size, DIM), device=centres.device, generator=generator)
        out[start : start + size] = centres[picks] + noise / math.sqrt(DIM)
    return torch.nn.functional.normalize(out, dim=1, out=out)


def exact_top(base: Any, queries: Any, k: int = K) -> Any:
    """Ids of the k largest inner products per query, in chunks of the base (fp32)."""
    import torch

    best_scores, best_ids = None, None
    for start in range(0, len(base), CHUNK):
        scores = queries @ base[start : start + CHUNK].T
        top = scores.topk(min(k, scores.shape[1]), dim=1)
        ids = top.indices + start
        if best_scores is None:
            best_scores, best_ids = top.values, ids
        else:
            merged = torch.cat([best_scores, top.values], 1).topk(k, dim=1)
            best_scores = merged.values
            best_ids = torch.cat([best_ids, ids], 1).gather(1, merged.indices)
    return best_ids


def p50_ms(search: Callable[[Any], Any], queries: Any, batch: int, repeats: int) -> float:
    import torch

    def timed(chunk: Any) -> float:
        started = time.perf_counter()
        search(chunk)
        if queries.is_cuda:
            torch.cuda.synchronize()
        return time.perf_counter() - started

    for i in range(2):
        timed(queries[i * batch : (i + 1) * batch])
    times = [timed(queries[(i * batch) % len(queries) :][:batch]) for i in range(repeats)]
    return round(1000 * statistics.median(times), 3)


def recall(found: Any, truth: Any) -> float:
    hits = (found.unsqueeze(-1) == truth.unsqueeze(-2)).any(-1)
    return round(float(hits.float().mean()), 4)


def used_mib(device: str) -> int | None:
    import torch

    if device != "cuda":
        return None
    free, total = torch.cuda.mem_get_info()
    return round((total - free) / 2**20)


def latencies(search: Callable[[Any], Any], queries: Any, repeats: int) -> dict[str, float]:
    return {
        "p50_ms_batch_1": p50_ms(search, queries, 1, repeats),
        "p50_ms_batch_64": p50_ms(search, queries, 64, max(5, repeats // 5)),
    }


def faiss_index(kind: str, n: int, base: Any, resources: Any) -> tuple[Any, dict[str, Any]]:
    import faiss

    nlist = max(16, min(2 ** round(math.log2(4 * math.sqrt(n))), n // 40))
    spec = "Flat" if kind == "flat" else f"IVF{nlist},Flat"
    index = faiss.index_factory(DIM, spec, faiss.METRIC_INNER_PRODUCT)
    if resources is not None:
        index = faiss.index_cpu_to_gpu(resources, 0, index)
    info: dict[str, Any] = {"faiss": spec}
    started = time.perf_counter()
    if kind == "ivf":
        sample = base[: min(n, 64 * nlist)]
        index.train(sample)
        info["train_s"] = round(time.perf_counter() - started, 2)
        space = faiss.GpuParameterSpace() if resources is not None else faiss.ParameterSpace()
        space.set_index_parameter(index, "nprobe", NPROBE)
        info["nprobe"] = NPROBE
    index.add(base)
    if base.is_cuda:
        import torch

        torch.cuda.synchronize()
    info["build_s"] = round(time.perf_counter() - started, 2)
    return index, info


def measure_size(
    n: int, args: argparse.Namespace, resources: Any, with_faiss: bool
) -> dict[str, Any]:
    import torch

    device = args.device
    generator = torch.Generator(device=device).manual_seed(n)
    centres = torch.nn.functional.normalize(
        torch.randn((max(16, n // 1000), DIM), device=device, generator=generator), dim=1
    )
    started = time.perf_counter()
    base = clustered(n, centres, generator)
    queries = clustered(args.queries, centres, generator)
    entry: dict[str, Any] = {"n": n, "dim": DIM, "queries": args.queries, "k": K}
    entry["generate_s"] = round(time.perf_counter() - started, 2)
    repeats = 50 if device == "cuda" else 10
    with torch.inference_mode():
        started = time.perf_counter()
        truth = exact_top(base, queries)
        entry["torch_exact"] = {
            "all_queries_s": round(time.perf_counter() - started, 3),
            **latencies(lambda q: exact_top(base, q), queries, repeats),
        }
        log(f"  {n}: torch exact {entry['torch_exact']}")
        for kind in ("flat", "ivf") if with_faiss else ():
            index, info = faiss_index(kind, n, base, resources)
            _, found = index.search(queries, K)
            info["recall_at_10"] = recall(found.to(truth.device), truth)
            info.update(latencies(lambda q, index=index: index.search(q, K), queries, repeats))
            info["device_memory_used_mib"] = used_mib(device)
            entry[kind] = info
            log(f"  {n}: {kind} {info}")
            del index
    return entry


def measure(args: argparse.Namespace, result: ResultFile) -> None:
    import faiss
    import faiss.contrib.torch_utils  # faiss indexes take torch tensors from here on
    import torch

    gpus = faiss.get_num_gpus() if hasattr(faiss, "get_num_gpus") else 0
    on_gpu = args.device == "cuda"
    with_faiss = gpus > 0 or not on_gpu
    resources = faiss.StandardGpuResources() if on_gpu and with_faiss else None
    result.update(
        {"faiss": faiss.__version__, "faiss_gpus": gpus, "device": args.device, "sizes": {}}
    )
    if not with_faiss:
        result.set("faiss_not_measured", "the installed faiss has no GPU support (0 GPUs)")
    for n in (int(text) for text in args.vectors.split(",")):
        log(f"vectors: {n:,} x {DIM}")
        result.data["sizes"][str(n)] = measure_size(n, args, resources, with_faiss)
        result.set("sizes", result.data["sizes"])
        if on_gpu:
            torch.cuda.empty_cache()
    flat_recalls = [s["flat"]["recall_at_10"] for s in result.data["sizes"].values() if "flat" in s]
    if any(value < 0.999 for value in flat_recalls):
        raise PartFailed(f"the exact faiss index disagrees with torch: recall {flat_recalls}")
    if not with_faiss:
        raise PartFailed("faiss-gpu is not installed (faiss has 0 GPUs): only torch measured")
