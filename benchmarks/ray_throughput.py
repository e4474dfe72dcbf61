"""Indexing throughput of the local runner vs the Ray runner (`index --ray`) on this machine,
side by side, interleaved, median of the repeats; one JSON object on stdout.

Each run indexes a synthetic library into a fresh data dir through `LibraryService.index`, the
path `searchapp index` takes, once with a small part of it (`--small` photos) and once with all
of it (`--photos`): the difference in photos over the difference in wall time is the marginal
throughput, which leaves out what every run pays once (the model load; for Ray, starting the
actors), and that fixed cost is reported beside it. Throughput per worker divides by the
embedding workers (the local runner: one process using every core; Ray: its embedding actors,
one CPU each, the other CPUs decoding). Ray Data streams results back in bursts, so per-batch
write times say nothing about its rate; only whole runs are timed. A first, uncounted run per
model pays the one-time costs of a new model (its export to the user cache). One local Ray
(`ray.init(num_cpus=N)`) is started once and its start time reported.
Models: the test suite's tiny open_clip config, and a random-weight ViT-B-32 (same compute as
the pretrained one).

    PYTHONPATH=. python benchmarks/ray_throughput.py --photos 144 --small 48 --repeats 2
    PYTHONPATH=. python benchmarks/ray_throughput.py --models tiny --photos 400
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import emit, log, machine_info
from make_random_checkpoint import random_checkpoint
from synthetic_library import make_library

TINY_CONFIG = {
    "embed_dim": 32,
    "vision_cfg": {"image_size": 32, "layers": 2, "width": 64, "head_width": 32, "patch_size": 8},
    "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 64, "heads": 2, "layers": 2},
}


def model_spec(name: str, work: Path) -> Any:
    import open_clip
    import torch

    from searchapp.models.base import ModelSpec

    if name == "tiny":
        config = work / "tiny-clip.json"
        config.write_text(json.dumps(TINY_CONFIG))
        open_clip.add_model_config(config)
        torch.manual_seed(0)
        checkpoint = work / "tiny-clip.pt"
        torch.save(open_clip.create_model("tiny-clip").state_dict(), checkpoint)
        return ModelSpec("tiny-clip", str(checkpoint), config)
    return ModelSpec(name, str(random_checkpoint(name, work / "checkpoints")))


def one_run(
    runner: str, spec: Any, photos: Path, data_dir: Path, args: argparse.Namespace
) -> dict[str, Any]:
    from searchapp.config import Settings
    from searchapp.service import IndexRequest, LibraryService

    settings = Settings(
        data_dir=data_dir,
        runtime="torch",
        precision=args.precision,
        batch_size=args.batch,
        auto_tag=False,
    )
    started = time.perf_counter()
    with LibraryService(settings) as service:
        request = IndexRequest(spec, tag=False, runner=runner)
        summary = service.index(photos, request).summary
    wall = time.perf_counter() - started
    return {"wall_s": round(wall, 2), "embedded": summary.embedded}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="tiny,ViT-B-32")
    parser.add_argument("--photos", type=int, default=144)
    parser.add_argument("--small", type=int, default=48)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--precision", default="auto")
    parser.add_argument("--ray-cpus", type=int, default=2)
    parser.add_argument("--work", type=Path, default=None)
    args = parser.parse_args()

    import ray

    from indexer.ray_cluster import local_cpus

    work = args.work or Path(tempfile.mkdtemp(prefix="ray-throughput-"))
    small = work / "photos-small"
    rest = work / "photos-rest"
    make_library(small, args.small, seed=7, size=(1024, 768))
    make_library(rest, args.photos - args.small, seed=8, size=(1024, 768))
    parts = {"small": [small], "all": [small, rest]}
    started = time.perf_counter()
    ray.init(
        num_cpus=args.ray_cpus,
        include_dashboard=False,
        log_to_driver=False,
        runtime_env={"env_vars": {"PYTHONPATH": str(Path(__file__).resolve().parents[1])}},
    )
    ray_start = time.perf_counter() - started
    actors = max(1, args.ray_cpus // 2)
    result: dict[str, Any] = {
        "machine": machine_info(with_torch=True),
        "photos": {"small": args.small, "all": args.photos},
        "photo_size": [1024, 768],
        "batch": args.batch,
        "precision": args.precision,
        "ray_start_s": round(ray_start, 2),
        "workers": {"local": 1, "ray": actors},
        "worker_cpus": {"local": local_cpus(), "ray": 1},
        "models": {},
    }
    try:
        for name in args.models.split(","):
            spec = model_spec(name, work)
            warm = one_run("local", spec, [small], work / f"warm-up-{name}", args)
            log(f"{name} warm-up (one-time export to the user cache, not counted): {warm}")
            runs: dict[str, list[dict[str, Any]]] = {"local": [], "ray": []}
            for repeat in range(args.repeats):
                for runner in ("local", "ray"):
                    pair = {}
                    for part, paths in parts.items():
                        data_dir = work / f"data-{name}-{runner}-{part}-{repeat}"
                        pair[part] = one_run(runner, spec, paths, data_dir, args)
                    extra = pair["all"]["embedded"] - pair["small"]["embedded"]
                    seconds = pair["all"]["wall_s"] - pair["small"]["wall_s"]
                    rate = extra / seconds if seconds > 0 else None
                    fixed = None if rate is None else pair["small"]["wall_s"] - args.small / rate
                    run = {**pair, "marginal_images_per_s": rate, "fixed_s": fixed}
                    log(f"{name} {runner} #{repeat}: {run}")
                    runs[runner].append(run)
            summary: dict[str, Any] = {}
            for runner, done in runs.items():
                rates = [r["marginal_images_per_s"] for r in done if r["marginal_images_per_s"]]
                fixed = [r["fixed_s"] for r in done if r["fixed_s"] is not None]
                rate = statistics.median(rates) if rates else None
                summary[runner] = {
                    "runs": done,
                    "median_marginal_images_per_s": None if rate is None else round(rate, 2),
                    "per_worker_images_per_s": (
                        None if rate is None else round(rate / result["workers"][runner], 2)
                    ),
                    "median_fixed_s": round(statistics.median(fixed), 2) if fixed else None,
                }
            result["models"][name] = summary
    finally:
        ray.shutdown()
    result["load_average_end"] = [round(v, 2) for v in os.getloadavg()]
    emit(result)


if __name__ == "__main__":
    main()
