"""HTTP API latency, through a real `searchapp serve` process on loopback.

1. Warm text queries on the demo library (the demo's own toy model; `--demo-library`, default
   /tmp/demo-data/demo/library, built with `searchapp demo --no-ui` when missing): after a few
   warm-up queries, `--queries` GET /search requests one after another, client-side latency.
   Target: p50 <= 20 ms.
2. `--clients` concurrent clients for `--seconds` against a library of `--n` small photos (the
   tiny random open_clip model of benchmarks/small_library.py: the subject is the server, not
   the model) while `searchapp watch` indexes photos that a writer adds to the library as it
   runs: GET /search (rclip-syntax texts), POST /search (combined terms), GET /images/{id}.
   Target: zero errors, no 5xx; p50/p99 reported.

    python benchmarks/api_latency.py --n 10000 --clients 20 --seconds 60
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import emit, log, machine_info
from small_library import small_library, tiny_model
from synthetic_library import parse_size

WATCH_FLAGS = ["--settle", "0.5", "--rescan-minutes", "0"]
LOAD_MODEL = "tiny random open_clip (small_library.py's bench-tiny-clip: 32 px, 2 layers)"
TEXTS = [
    "a red circle",
    "a blue square on a white background",
    "a small green triangle",
    "a large yellow star",
    "something round and orange",
    "a purple shape on black",
    "two shapes",
    "a photo",
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def percentiles(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    if not ordered:
        return {}

    def at(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 2)

    return {
        "n": len(ordered),
        "p50_ms": at(0.50),
        "p90_ms": at(0.90),
        "p99_ms": at(0.99),
        "max_ms": round(ordered[-1], 2),
        "mean_ms": round(statistics.fmean(ordered), 2),
    }


class Server:
    """`searchapp serve` on a free loopback port."""

    def __init__(self, data_dir: Path, log_path: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {**os.environ, "SEARCHAPP_DATA_DIR": str(data_dir), "HF_HUB_OFFLINE": "1"}
        command = [sys.executable, "-m", "searchapp", "serve", "--port", str(self.port)]
        self._log = open(log_path, "wb")  # noqa: SIM115 (closed in stop)
        self.process = subprocess.Popen(
            command, stdout=self._log, stderr=subprocess.STDOUT, env=env
        )
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"{self.url}/health", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"the server did not start:\n{log_path.read_text()[-3000:]}")
            time.sleep(0.1)

    def stop(self) -> None:
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self._log.close()


def demo_library(path: Path, work: Path) -> Path:
    if (path / "library.sqlite3").is_file():
        return path
    data_dir = work / "demo-data"
    log(f"building the demo library in {data_dir}")
    env = {**os.environ, "SEARCHAPP_DATA_DIR": str(data_dir), "HF_HUB_OFFLINE": "1"}
    subprocess.run([sys.executable, "-m", "searchapp", "demo", "--no-ui"], env=env, check=True)
    return data_dir / "demo" / "library"


def warm_queries(library: Path, queries: int, work: Path) -> dict[str, Any]:
    server = Server(library, work / "serve-demo.log")
    try:
        with httpx.Client(base_url=server.url, timeout=60) as client:
            for text in TEXTS * 2:
                client.get("/search", params={"q": text}).raise_for_status()
            health: list[float] = []
            for _ in range(queries):
                started = time.perf_counter()
                client.get("/health").raise_for_status()
                health.append((time.perf_counter() - started) * 1000)
            latencies: list[float] = []
            server_totals: list[float] = []
            stages: dict[str, list[float]] = {}
            for i in range(queries):
                text = f"{TEXTS[i % len(TEXTS)]} {i}"  # a new text each time: encoded afresh
                started = time.perf_counter()
                response = client.get("/search", params={"q": text, "top_k": 10})
                latencies.append((time.perf_counter() - started) * 1000)
                response.raise_for_status()
                timings = response.json()["timings"]
                server_totals.append(timings["total"])
                for stage, ms in timings.items():
                    stages.setdefault(stage, []).append(ms)
        return {
            "library": str(library),
            "model": "the demo's toy open_clip model (searchapp demo)",
            "photos": httpx.get(f"{server.url}/status").json().get("files_ok"),
            "client_latency": percentiles(latencies),
            "http_floor_health": percentiles(health),
            "server_total": percentiles(server_totals),
            "server_stage_medians_ms": {
                stage: round(statistics.median(v), 3) for stage, v in stages.items()
            },
            "target_p50_ms": 20,
            "met": percentiles(latencies)["p50_ms"] <= 20,
        }
    finally:
        server.stop()


def load_test(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    pool = small_library(args.cache_dir, args.n + args.new_photos, args.size)
    sources = sorted(pool.rglob("*.jpg"))
    root, data_dir = work / "photos", work / "data"
    for source in sources[: args.n]:
        target = root / source.relative_to(pool)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.link(source, target)
    config, checkpoint = tiny_model(args.cache_dir)
    flags = ["--model-config", str(config), "--pretrained", str(checkpoint)]
    env = {**os.environ, "SEARCHAPP_DATA_DIR": str(data_dir), "HF_HUB_OFFLINE": "1"}
    log(f"indexing {args.n} photos")
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "searchapp", "index", str(root), *flags, "--no-tag", "--json"],
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    index_seconds = time.perf_counter() - started
    watch_log = open(work / "watch.log", "wb")  # noqa: SIM115
    watch = subprocess.Popen(
        [sys.executable, "-m", "searchapp", "watch", str(root), *flags, *WATCH_FLAGS],
        stdout=watch_log,
        stderr=subprocess.STDOUT,
        env=env,
    )
    server = Server(data_dir, work / "serve-load.log")
    statuses: Counter[int] = Counter()
    errors: list[str] = []
    latencies: dict[str, list[float]] = {"get_search": [], "post_search": [], "image": []}
    server_stages: dict[str, list[float]] = {}
    stop = threading.Event()
    ids = [
        hit["id"]
        for hit in httpx.get(
            f"{server.url}/search", params={"q": "a photo", "top_k": 500}, timeout=300
        ).json()["results"]
    ]

    def client_loop(seed: int) -> None:
        rng = random.Random(seed)
        with httpx.Client(base_url=server.url, timeout=60) as client:
            while not stop.is_set():
                kind = rng.choices(["get_search", "post_search", "image"], [6, 3, 1])[0]
                started = time.perf_counter()
                try:
                    if kind == "get_search":
                        response = client.get(
                            "/search", params={"q": rng.choice(TEXTS), "top_k": 20}
                        )
                    elif kind == "post_search":
                        body = {
                            "positive": [
                                {"text": rng.choice(TEXTS), "weight": 2},
                                {"image_id": rng.choice(ids)},
                            ],
                            "negative": [{"text": rng.choice(TEXTS)}],
                            "top_k": 20,
                        }
                        response = client.post("/search", json=body)
                    else:
                        response = client.get(f"/images/{rng.choice(ids)}")
                except httpx.HTTPError as exc:
                    errors.append(f"{kind}: {type(exc).__name__}: {exc}")
                    continue
                latencies[kind].append((time.perf_counter() - started) * 1000)
                statuses[response.status_code] += 1
                if response.status_code == 200 and kind != "image":
                    for stage, ms in response.json()["timings"].items():
                        server_stages.setdefault(stage, []).append(ms)
                if response.status_code != 200:
                    errors.append(f"{kind}: {response.status_code} {response.text[:200]}")

    def writer() -> None:
        interval = args.seconds / max(1, args.new_photos) * 0.8
        for source in sources[args.n : args.n + args.new_photos]:
            if stop.is_set():
                return
            target = root / "added" / source.name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, target)
            time.sleep(interval)

    threads = [threading.Thread(target=client_loop, args=(i,)) for i in range(args.clients)]
    threads.append(threading.Thread(target=writer))
    log(f"{args.clients} clients for {args.seconds} s; watch indexes {args.new_photos} new photos")
    try:
        began = time.perf_counter()
        for thread in threads:
            thread.start()
        time.sleep(args.seconds)
        stop.set()
        for thread in threads:
            thread.join(120)
        elapsed = time.perf_counter() - began
        status = httpx.get(f"{server.url}/status", timeout=60).json()
    finally:
        stop.set()
        server.stop()
        watch.send_signal(signal.SIGTERM)
        watch.wait(120)
        watch_log.close()
    everything = [ms for values in latencies.values() for ms in values]
    return {
        "model": LOAD_MODEL,
        "photos_at_start": args.n,
        "photo_size": f"{args.size[0]}x{args.size[1]}",
        "index_seconds": round(index_seconds, 1),
        "clients": args.clients,
        "seconds": round(elapsed, 1),
        "requests": sum(statuses.values()),
        "requests_per_second": round(sum(statuses.values()) / elapsed, 1),
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "errors": len(errors),
        "server_errors_5xx": sum(v for k, v in statuses.items() if k >= 500),
        "first_errors": errors[:5],
        "photos_added_during_run": args.new_photos,
        "photos_indexed_at_end": status.get("files_ok"),
        "latency_all": percentiles(everything),
        "latency": {kind: percentiles(values) for kind, values in latencies.items()},
        "server_search_stages": {
            stage: percentiles(values) for stage, values in server_stages.items()
        },
        "met": not errors and all(k < 500 for k in statuses),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--demo-library", type=Path, default=Path("/tmp/demo-data/demo/library"))
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--new-photos", type=int, default=300)
    parser.add_argument("--size", type=parse_size, default=(160, 120))
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--cache-dir", type=Path, default=Path("~/.cache/searchapp-bench"))
    parser.add_argument("--skip-load", action="store_true", help="only the warm query part")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="api-latency-"))
    try:
        result: dict[str, Any] = {
            "warm_text_query": warm_queries(
                demo_library(args.demo_library, work), args.queries, work
            )
        }
        if not args.skip_load:
            result["concurrent_while_watching"] = load_test(args, work)
        result["machine"] = machine_info()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    emit(result)


if __name__ == "__main__":
    main()
