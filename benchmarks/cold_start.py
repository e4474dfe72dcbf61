"""Cold start of the query commands, each a new process, against rclip's cold query: one JSON.

A library of `--n` camera photos (synthetic_library.py) is indexed once by `searchapp index` with
random ViT-B-32-256 weights (rclip's architecture; the exported towers made then sit in the user
cache, as after any first index) and once by rclip 3.3.0 through the peer harness
(`/work/shared/peers/rclip/rclip_offline.py`). A small label file is embedded once (`tag`), so
`tag` and `classify` later read a cached vocabulary. Then, `--repeats` times, alternating, each
command runs in a fresh process and its wall time is taken: `searchapp search TEXT`, rclip's
query without indexing (`rclip -n -t 1 TEXT`), `similar` with a photo outside the library,
`classify` of that photo, `tag` with the cached vocabulary and `models`. Medians, the load
average around each command, and `python -X importtime`'s largest imports of `search` and
`similar`.

    python benchmarks/cold_start.py --repeats 7
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import emit, log, machine_info
from make_random_checkpoint import random_checkpoint
from synthetic_library import make_library

MODEL = "ViT-B-32-256"
RCLIP_PEER = Path("/work/shared/peers/rclip/rclip_offline.py")
RCLIP_PYTHON = Path("/tmp/rclip-venv/bin/python")
QUERY = "a photo of a dog playing on the beach"
LABELS = ["dog", "cat", "beach", "mountain", "city street", "birthday cake", "car", "tree"]


def _timed(cmd: list[str], env: dict[str, str], cwd: Path | None = None) -> dict[str, Any]:
    load = os.getloadavg()[0]
    started = time.perf_counter()
    done = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - started
    result: dict[str, Any] = {"wall_s": round(wall, 3), "load_average_1m": round(load, 2)}
    if done.returncode != 0:
        result["error"] = (done.stderr or done.stdout)[-600:]
    return result


def _largest_imports(cmd: list[str], env: dict[str, str], top: int = 8) -> list[dict[str, Any]]:
    """Top-level packages by cumulative import time (`python -X importtime`)."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", *cmd], env=env, capture_output=True, text=True
    )
    packages: dict[str, int] = {}
    for line in done.stderr.splitlines():
        if not line.startswith("import time:") or "|" not in line:
            continue
        _, cumulative, name = (part.strip() for part in line.split(":", 1)[1].split("|"))
        if not cumulative.isdigit() or name.startswith(" "):
            continue
        root = name.strip().split(".")[0]
        packages[root] = max(packages.get(root, 0), int(cumulative))
    ranked = sorted(packages.items(), key=lambda item: -item[1])[:top]
    return [{"package": name, "ms": round(us / 1000, 1)} for name, us in ranked]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--cache-dir", type=Path, default=Path("~/.cache/searchapp-bench"))
    parser.add_argument("--rclip-python", type=Path, default=RCLIP_PYTHON)
    args = parser.parse_args()
    cache = args.cache_dir.expanduser()
    library = cache / f"side-by-side-{args.n}"
    photos = make_library(library, args.n, seed=1)
    outside = make_library(cache / "cold-start-outside", 1, seed=99)[0]
    checkpoint = random_checkpoint(MODEL, cache)
    work = cache / "cold-start"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    labels = work / "labels.txt"
    labels.write_text("\n".join(LABELS) + "\n", encoding="utf-8")
    env = {
        **os.environ,
        "SEARCHAPP_DATA_DIR": str(work / "ours"),
        "SEARCHAPP_CACHE_DIR": str(cache / "user-cache"),
        "HF_HUB_OFFLINE": "1",
    }
    ours = [sys.executable, "-m", "searchapp"]
    log(f"indexing {len(photos)} photos (ours, then rclip)")
    index = [*ours, "index", str(library), "--json", "--no-tag", "--model", MODEL]
    prepared = [
        _timed([*index, "--pretrained", str(checkpoint)], env),
        _timed([*ours, "tag", "--labels", str(labels)], env),
    ]
    rclip_cmd = [str(args.rclip_python), str(RCLIP_PEER), "--datadir", str(work / "rclip")]
    rclip_cmd += ["--cwd", str(library), "--"]
    rclip_ok = RCLIP_PEER.is_file() and args.rclip_python.is_file()
    if rclip_ok:
        prepared.append(_timed([*rclip_cmd, "-t", "1", QUERY], dict(os.environ)))
        rclip_ok = "error" not in prepared[-1]
    if any("error" in step for step in prepared[:2]):
        raise SystemExit(f"preparation failed: {prepared}")
    commands: dict[str, tuple[list[str], dict[str, str]]] = {
        "searchapp_search": ([*ours, "search", QUERY, "-k", "1"], env),
        "searchapp_similar_outside_file": ([*ours, "similar", str(outside), "-k", "1"], env),
        "searchapp_classify": ([*ours, "classify", str(outside), "--labels", str(labels)], env),
        "searchapp_tag_cached_vocabulary": ([*ours, "tag", "--labels", str(labels)], env),
        "searchapp_models": ([*ours, "models"], env),
    }
    if rclip_ok:
        commands["rclip_query"] = ([*rclip_cmd, "-n", "-t", "1", QUERY], dict(os.environ))
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in commands}
    for repeat in range(args.repeats):
        for name, (cmd, cmd_env) in commands.items():
            runs[name].append(_timed(cmd, cmd_env))
        log(f"repeat {repeat}: " + ", ".join(f"{n} {r[-1]['wall_s']}" for n, r in runs.items()))
    result: dict[str, Any] = {"machine": machine_info(), "photos": len(photos), "model": MODEL}
    for name, name_runs in runs.items():
        walls = [run["wall_s"] for run in name_runs if "error" not in run]
        result[name] = {
            "median_s": round(statistics.median(walls), 3) if walls else None,
            "walls_s": [run["wall_s"] for run in name_runs],
            "load_average_1m": [run["load_average_1m"] for run in name_runs],
            "errors": [run["error"] for run in name_runs if "error" in run][:1],
        }
    rclip = result.get("rclip_query", {}).get("median_s")
    ours_search = result["searchapp_search"]["median_s"]
    if rclip and ours_search:
        result["rclip_query_over_searchapp_search"] = round(rclip / ours_search, 2)
    result["largest_imports_ms"] = {
        "search": _largest_imports(["-m", "searchapp", "search", QUERY, "-k", "1"], env),
        "similar": _largest_imports(["-m", "searchapp", "similar", str(outside), "-k", "1"], env),
    }
    emit(result)


if __name__ == "__main__":
    main()
