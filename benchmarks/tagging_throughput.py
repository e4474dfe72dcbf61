"""Zero-shot tagging over stored embeddings: time and peak memory at 100k and 1M images.

For each size, a library is filled with random unit vectors of the default model's width (512)
written straight into SQLite, a vocabulary of 500 labels gets a cached label bank (so no model
is loaded: this measures tagging, not text encoding), and a fresh process runs the same
`Tagger.tag` that `searchapp tag` runs. Peak memory is that process's peak RSS minus its RSS
just before tagging; the embeddings themselves are `n × 512 × 4` bytes and are never all in
memory at once.

    python benchmarks/tagging_throughput.py [--sizes 100000,1000000] [--labels 500]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import ForeignCpu, emit, log, machine_info

DIM = 512
WRITE_CHUNK = 50_000


def _rss_mib() -> float:
    with open("/proc/self/status", encoding="utf-8") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def fill_library(data_dir: Path, n: int, labels: int, seed: int = 0) -> None:
    from searchapp.config import Settings
    from searchapp.library import Library
    from searchapp.models.base import ModelIdentity
    from searchapp.store.tag_store import LabelBank
    from searchapp.tagging.tagger import Tagger, label_bank_fingerprint
    from searchapp.tagging.vocabulary import LabelList, default_templates

    library = Library(Settings(data_dir=data_dir))
    store = library.store
    identity = ModelIdentity("open_clip", "ViT-B-32-256", "benchmark-random", "0" * 64)
    model = store.register_model(identity, None, None, DIM)
    store.activate_model(model.id)
    rng = np.random.default_rng(seed)
    raw = store.engine.raw_connection()
    try:
        cursor = raw.cursor()
        for start in range(0, n, WRITE_CHUNK):
            count = min(WRITE_CHUNK, n - start)
            vectors = rng.standard_normal((count, DIM), dtype=np.float32)
            vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
            ids = range(start + 1, start + count + 1)
            cursor.executemany(
                "INSERT INTO images (id, content_hash, width, height) VALUES (?, ?, 4000, 3000)",
                [(i, f"{i:040x}") for i in ids],
            )
            cursor.executemany(
                "INSERT INTO embeddings (id, image_id, model_id, vector) VALUES (?, ?, ?, ?)",
                [(i, i, model.id, v.tobytes()) for i, v in zip(ids, vectors, strict=True)],
            )
            raw.commit()
    finally:
        raw.close()
    label_list = LabelList("benchmark", tuple(f"label {i}" for i in range(labels)))
    tagger = Tagger(library, model)
    vocabulary, _ = tagger.use_vocabulary(label_list, source="benchmark")
    label_vectors = rng.standard_normal((labels, DIM), dtype=np.float32)
    label_vectors /= np.linalg.norm(label_vectors, axis=1, keepdims=True)
    fingerprint = label_bank_fingerprint(model, label_list.labels, default_templates())
    bank = LabelBank(fingerprint, "clip", 100.0, None, label_vectors)
    store.tags.save_label_bank(vocabulary.id, model.id, bank)
    library.close()


def tag_once(data_dir: Path) -> dict[str, object]:
    """Runs in a fresh process: tag the library's benchmark vocabulary, report time and memory."""
    from searchapp.config import Settings
    from searchapp.library import Library
    from searchapp.tagging.tagger import Tagger

    library = Library(Settings(data_dir=data_dir))
    model = library.query_model()
    vocabulary = library.store.tags.vocabulary("benchmark")
    assert vocabulary is not None
    rss_before = _rss_mib()
    with ForeignCpu() as cpu:
        run = Tagger(library, model).tag(vocabulary)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    library.close()
    return {
        **run.as_dict(),
        "seconds": round(cpu.wall_s, 2),
        "images_per_s": round(run.images / cpu.wall_s),
        "rss_before_mib": round(rss_before),
        "peak_rss_mib": round(peak),
        "peak_above_start_mib": round(peak - rss_before),
        **cpu.as_dict(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100000,1000000")
    parser.add_argument("--labels", type=int, default=500)
    parser.add_argument("--work", type=Path, default=None, help="Where to build the libraries.")
    parser.add_argument("--tag-only", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.tag_only is not None:
        emit(tag_once(args.tag_only))
        return
    results = []
    with tempfile.TemporaryDirectory(dir=args.work) as work:
        for n in (int(size) for size in args.sizes.split(",")):
            data_dir = Path(work) / f"library-{n}"
            log(f"filling a library with {n} random embeddings …")
            started = time.perf_counter()
            fill_library(data_dir, n, args.labels)
            log(f"  filled in {time.perf_counter() - started:.0f} s; tagging …")
            done = subprocess.run(
                [sys.executable, __file__, "--tag-only", str(data_dir)],
                check=True,
                capture_output=True,
                text=True,
            )
            result = json.loads(done.stdout)
            embeddings_mib = n * DIM * 4 / 2**20
            results.append({"embeddings": n, "embeddings_mib": round(embeddings_mib), **result})
            log(f"  {json.dumps(results[-1])}")
    emit({"benchmark": "tagging_throughput", "machine": machine_info(), "runs": results})


if __name__ == "__main__":
    main()
