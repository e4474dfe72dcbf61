"""HTTP text queries against several checkouts of searchapp at once: one `searchapp serve` per
checkout over the same library, requests alternated between them (the order flips every round),
so that a shared, noisy machine weighs on all of them alike.

Per server: client-side p50/p99 of `GET /search?q=TEXT` (every text distinct, ViT-B-32 text tower
included), of `GET /health`, and the median of each stage the server reports; whether each
later server ranked exactly as the first one did.

    python benchmarks/http_text_side_by_side.py DATA_DIR before=/tmp/old-checkout after=. \\
        [--rounds 150] [--env before:VAR=VALUE ...]

`--env` sets a variable for one server only (e.g. `before:PYTHONPATH=/old:/no-httptools`).
Start order matters on this machine (the first server started measured faster at times):
run it twice with the checkouts swapped.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import emit, machine_info

TEXTS = [f"a photo of {w}" for w in ("a dog", "the beach", "a birthday cake", "snow", "a car")]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "p50_ms": round(statistics.median(ordered), 2),
        "p99_ms": round(ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))], 2),
    }


def _start(code: Path, data_dir: Path, env: dict[str, str]) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    command = [sys.executable, "-m", "searchapp", "--data-dir", str(data_dir), "serve"]
    server = subprocess.Popen(
        [*command, "--port", str(port)],
        cwd=code,
        env={**os.environ, "PYTHONPATH": str(code), **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    return server, f"http://127.0.0.1:{port}"


def _wait_ready(client: Any, server: subprocess.Popen[bytes]) -> None:
    import httpx

    deadline = time.monotonic() + 300
    while True:
        try:
            if client.get("/health").status_code == 200:
                return
        except httpx.TransportError:
            pass
        if server.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError("searchapp serve did not start")
        time.sleep(0.2)


def side_by_side(
    data_dir: Path, checkouts: dict[str, Path], envs: dict[str, dict[str, str]], rounds: int
) -> dict[str, Any]:
    import httpx

    servers, clients = {}, {}
    try:
        for label, code in checkouts.items():
            servers[label], url = _start(code, data_dir, envs.get(label, {}))
            clients[label] = httpx.Client(base_url=url, timeout=120)
        for label, client in clients.items():
            _wait_ready(client, servers[label])
            client.get("/search", params={"q": TEXTS[0]}).raise_for_status()  # opens the model
        search: dict[str, list[float]] = {label: [] for label in clients}
        health: dict[str, list[float]] = {label: [] for label in clients}
        stages: dict[str, list[dict[str, float]]] = {label: [] for label in clients}
        ranked: dict[str, list[list[tuple[int, float]]]] = {label: [] for label in clients}
        load = [round(os.getloadavg()[0], 2)]
        for round_ in range(rounds):
            text = f"{TEXTS[round_ % len(TEXTS)]} {round_}"
            order = list(clients) if round_ % 2 == 0 else list(clients)[::-1]
            for label in order:
                client = clients[label]
                t0 = time.perf_counter()
                client.get("/health").raise_for_status()
                health[label].append((time.perf_counter() - t0) * 1000)
                t0 = time.perf_counter()
                response = client.get("/search", params={"q": text})
                search[label].append((time.perf_counter() - t0) * 1000)
                response.raise_for_status()
                body = response.json()
                stages[label].append(body["timings"])
                ranked[label].append([(hit["id"], hit["score"]) for hit in body["results"]])
        load.append(round(os.getloadavg()[0], 2))
    finally:
        for client in clients.values():
            client.close()
        for server in servers.values():
            server.terminate()
        for server in servers.values():
            server.wait(timeout=60)
    first = next(iter(checkouts))
    result: dict[str, Any] = {"rounds": rounds, "load_average_1m": load}
    for label in checkouts:
        names = sorted({name for timings in stages[label] for name in timings})
        result[label] = {
            "code": str(checkouts[label]),
            "env": envs.get(label, {}),
            "http_text": _percentiles(search[label]),
            "health_p50_ms": _percentiles(health[label])["p50_ms"],
            "stages_ms": {
                name: round(statistics.median(t.get(name, 0.0) for t in stages[label]), 2)
                for name in names
            },
        }
        if label != first:
            pairs = list(zip(ranked[first], ranked[label], strict=True))
            result[label]["same_ranking_as_" + first] = sum(
                [i for i, _ in a] == [i for i, _ in b] for a, b in pairs
            )
            result[label]["max_score_difference"] = max(
                (abs(x[1] - y[1]) for a, b in pairs for x, y in zip(a, b, strict=False)),
                default=0.0,
            )
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data_dir", type=Path)
    parser.add_argument("checkouts", nargs="+", help="LABEL=DIR, a checkout of searchapp")
    parser.add_argument("--rounds", type=int, default=150)
    parser.add_argument("--env", action="append", default=[], help="LABEL:VAR=VALUE")
    args = parser.parse_args()
    checkouts = {}
    for item in args.checkouts:
        label, _, directory = item.partition("=")
        checkouts[label] = Path(directory).resolve()
    envs: dict[str, dict[str, str]] = {}
    for item in args.env:
        label, _, assignment = item.partition(":")
        name, _, value = assignment.partition("=")
        envs.setdefault(label, {})[name] = value
    result = side_by_side(args.data_dir, checkouts, envs, args.rounds)
    emit({"benchmark": "http_text_side_by_side", "machine": machine_info(), **result})


if __name__ == "__main__":
    main()
