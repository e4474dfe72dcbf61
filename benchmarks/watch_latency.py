"""Event-to-searchable delay of the background indexer: copy photos into a watched folder and
time until a long-running reader (a `LiveVectorIndex`, as the API holds one) finds each of them.

`searchapp watch` runs as a subprocess on an empty root, with the tiny random model (the delay is
about the indexer, not the model; add `--model-config/--pretrained` of a real model to see its
cost); once it is idle, the script copies one photo at a time (`--singles` times) and then
`--n` photos in one go, and polls the reader every `--poll` seconds. Reported per photo: written
→ row committed in SQLite → found through the reader's index; and, for short-lived readers
(`searchapp search`), → saved index file current. Components: the settle time (a file must keep
its size and mtime that long), the indexer's rounds (from its log) and the reader's refreshes.

    python benchmarks/watch_latency.py --n 1000 --settle 1.0
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _common import emit, log, machine_info
from small_library import small_library, tiny_model
from synthetic_library import parse_size

from searchapp.config import Settings
from searchapp.library import Library

ROUND = re.compile(r"(\d+) files: (\d+) embedded, (\d+) linked, (\d+) failed in ([\d.]+) s")


class Reader:
    """Finds paths through the vector index as a long-running reader sees it."""

    def __init__(self, data_dir: Path) -> None:
        self.library = Library(Settings(data_dir=data_dir, precision="fp32"))
        self.found: dict[str, float] = {}
        self.refresh_seconds: list[float] = []
        self._mapped: set[int] = set()
        self._live = None

    def poll(self) -> None:
        if self._live is None:
            model = self.library.store.active_model()
            if model is None:
                return
            self._live = self.library.live_index(model)
        started = time.perf_counter()
        index = self._live.current()
        if self._live.last_refresh != "unchanged":
            self.refresh_seconds.append(time.perf_counter() - started)
        new = [int(i) for i in index.ids() if int(i) not in self._mapped]
        now = time.time()
        for embedding_id, hits in self.library.store.vectors.hits(new).items():
            self._mapped.add(embedding_id)
            for hit in hits:
                self.found.setdefault(hit.path, now)

    def committed(self, path: str) -> bool:
        model = self.library.store.active_model()
        known = self.library.store.known_files([path], model.id if model else 0).get(path)
        return known is not None and known.status == "ok" and known.embedded


def _saved_generation(data_dir: Path) -> int:
    try:
        manifest = json.loads((data_dir / "vectors" / "manifest.json").read_text())
        return int(manifest["generation"])
    except (OSError, ValueError, KeyError):
        return -1


def _wait(condition, what: str, timeout: float, poll: float) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        time.sleep(poll)


def _summary(values: list[float]) -> dict[str, float]:
    return {
        "max": round(max(values), 3),
        "median": round(statistics.median(values), 3),
        "min": round(min(values), 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=1000, help="photos in the bulk copy")
    parser.add_argument("--singles", type=int, default=5, help="single-photo trials")
    parser.add_argument("--size", type=parse_size, default=(640, 480))
    parser.add_argument("--settle", type=float, default=1.0)
    parser.add_argument("--poll", type=float, default=0.02)
    parser.add_argument("--cache-dir", type=Path, default=Path("~/.cache/searchapp-bench"))
    parser.add_argument("--model-config", type=Path)
    parser.add_argument("--pretrained")
    args = parser.parse_args()

    pool = small_library(args.cache_dir, args.n + args.singles, args.size)
    sources = sorted(pool.rglob("*.jpg"))
    if args.pretrained:
        flags = ["--pretrained", args.pretrained]
        flags += ["--model-config", str(args.model_config)] if args.model_config else []
    else:
        config, checkpoint = tiny_model(args.cache_dir)
        flags = ["--model-config", str(config), "--pretrained", str(checkpoint)]
    work = Path(tempfile.mkdtemp(prefix="watch-latency-"))
    root, data_dir = work / "photos", work / "data"
    root.mkdir()
    env = {**os.environ, "SEARCHAPP_DATA_DIR": str(data_dir), "HF_HUB_OFFLINE": "1"}
    command = [sys.executable, "-m", "searchapp", "watch", str(root), *flags]
    command += ["--settle", str(args.settle), "--rescan-minutes", "0"]
    log_path = work / "watch.log"
    with open(log_path, "wb") as log_file:
        indexer = subprocess.Popen(command, stdout=log_file, stderr=subprocess.STDOUT, env=env)
        try:
            result = _measure(args, sources, root, data_dir, indexer.pid)
        finally:
            indexer.send_signal(signal.SIGTERM)
            indexer.wait(60)
    rounds = [float(m.group(5)) for m in ROUND.finditer(log_path.read_text())]
    result["indexer_rounds_seconds"] = _summary(rounds) if rounds else None
    result["machine"] = machine_info()
    shutil.rmtree(work, ignore_errors=True)
    emit(result)


def _measure(
    args: argparse.Namespace, sources: list[Path], root: Path, data_dir: Path, pid: int
) -> dict[str, object]:
    time.sleep(1.0)  # let the indexer create the library before this process opens it
    reader = Reader(data_dir)

    def idle() -> bool:
        status = reader.library.store.indexer_status.read()
        return status is not None and status.pid == pid and status.state == "idle"

    _wait(idle, "the indexer to start", 300, 0.1)
    singles: list[dict[str, float]] = []
    for source in sources[: args.singles]:
        target = str(root / source.name)
        generation = reader.library.store.generation()
        shutil.copyfile(source, target)
        written = time.time()
        committed = persisted = None
        while target not in reader.found:
            if committed is None and reader.committed(target):
                committed = time.time()
            if persisted is None and _saved_generation(data_dir) > generation:
                persisted = time.time()
            reader.poll()
            time.sleep(args.poll)
        committed = committed or reader.found[target]
        _wait(lambda g=generation: _saved_generation(data_dir) > g, "the saved index", 60, 0.01)
        persisted = persisted or time.time()
        singles.append(
            {
                "committed": committed - written,
                "searchable": reader.found[target] - written,
                "saved_index_current": persisted - written,
            }
        )
        log(f"single photo: searchable after {singles[-1]['searchable']:.2f} s")
        _wait(idle, "idle", 60, 0.05)
    bulk = root / "import"
    bulk.mkdir()
    written_at: dict[str, float] = {}
    copy_started = time.time()
    for source in sources[args.singles :]:
        target = str(bulk / source.name)
        shutil.copyfile(source, target)
        written_at[target] = time.time()
    copy_ended = time.time()
    log(f"copied {len(written_at)} photos in {copy_ended - copy_started:.1f} s")
    while not set(written_at) <= set(reader.found):
        reader.poll()
        time.sleep(args.poll)
    last = max(reader.found[p] for p in written_at)
    per_file = [reader.found[p] - at for p, at in written_at.items()]
    return {
        "settle_seconds": args.settle,
        "poll_seconds": args.poll,
        "photo_size": list(args.size),
        "single_photo": {
            key: _summary([trial[key] for trial in singles])
            for key in ("committed", "searchable", "saved_index_current")
        },
        "bulk": {
            "photos": len(written_at),
            "copy_seconds": round(copy_ended - copy_started, 3),
            "last_searchable_after_copy_ended": round(last - copy_ended, 3),
            "last_searchable_after_copy_started": round(last - copy_started, 3),
            "per_photo_written_to_searchable": _summary(per_file),
        },
        "reader_refresh_seconds": _summary(reader.refresh_seconds),
    }


if __name__ == "__main__":
    main()
