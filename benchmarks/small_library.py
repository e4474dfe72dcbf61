"""Cheap libraries of many small, distinct JPEGs and a tiny random open_clip model, for the
benchmarks whose subject is the per-file cost of the app (scan, store, memory), not the model.

- `tiny_model(cache)`: an open_clip config like the tests' TINY_CONFIG (32 px input, two
  64-wide layers) and a random-weight checkpoint of it, loaded by the CLI through the same
  `--model-config CFG.json --pretrained CKPT.pt` path users use. Reused when present.
- `small_library(cache, n, size)`: n photo-like JPEGs (synthetic_library.photo_pixels, so
  every file has different content and is never taken for a duplicate), `d000/img_000000.jpg`,
  250 per folder. Files are made once in a shared pool, deterministically per index, and each
  library of n files is a folder of hard links to the first n of them: the library of 5,000 is
  a superset of the library of 1,000, file for file, with the same bytes and mtimes.

    python benchmarks/small_library.py --n 1000 --size 640x480
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from multiprocessing import Pool
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import emit, log, usable_cores
from synthetic_library import parse_size, photo_pixels

FILES_PER_FOLDER = 250
BASE_MTIME = 1_577_872_800  # 2020-01-01 10:00 UTC; file i is i seconds later
TINY_MODEL_NAME = "bench-tiny-clip"
TINY_CONFIG = {  # the same architecture as tests/conftest.py's TINY_CONFIG
    "embed_dim": 32,
    "vision_cfg": {"image_size": 32, "layers": 2, "width": 64, "head_width": 32, "patch_size": 8},
    "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 64, "heads": 2, "layers": 2},
}


def tiny_model(cache: Path, seed: int = 0) -> tuple[Path, Path]:
    """(config JSON, checkpoint) of the tiny model under `cache`; made once, then reused."""
    directory = Path(cache).expanduser() / "tiny-model"
    directory.mkdir(parents=True, exist_ok=True)
    config_path = directory / f"{TINY_MODEL_NAME}.json"
    checkpoint = directory / f"{TINY_MODEL_NAME}-random-seed{seed}.pt"
    text = json.dumps(TINY_CONFIG, indent=2) + "\n"
    if not config_path.is_file() or config_path.read_text(encoding="utf-8") != text:
        _write_atomically(config_path, text.encode())
        checkpoint.unlink(missing_ok=True)  # made for another architecture
    if checkpoint.is_file() and checkpoint.stat().st_size > 0:
        return config_path, checkpoint
    import open_clip
    import torch

    log(f"creating the tiny random-weight model at {checkpoint}")
    open_clip.add_model_config(config_path)
    torch.manual_seed(seed)
    model = open_clip.create_model(TINY_MODEL_NAME, pretrained=None)
    partial = checkpoint.with_name(f".{checkpoint.name}.{os.getpid()}.part")
    torch.save(model.state_dict(), partial)
    os.replace(partial, checkpoint)
    return config_path, checkpoint


def _write_atomically(path: Path, data: bytes) -> None:
    partial = path.with_name(f".{path.name}.{os.getpid()}.part")
    partial.write_bytes(data)
    os.replace(partial, path)


def relpath(index: int) -> str:
    return f"d{index // FILES_PER_FOLDER:03d}/img_{index:06d}.jpg"


def _make_one(job: tuple[str, int, int, int, int, int]) -> int:
    root, index, width, height, quality, seed = job
    path = Path(root, relpath(index))
    path.parent.mkdir(parents=True, exist_ok=True)
    image = photo_pixels(np.random.default_rng([seed, 0x5A11, index]), width, height)
    partial = path.with_name(f".{path.name}.{os.getpid()}.part")
    image.save(partial, "JPEG", quality=quality)
    os.utime(partial, (BASE_MTIME + index, BASE_MTIME + index))
    os.replace(partial, path)
    return index


def _fill_pool(pool: Path, n: int, size: tuple[int, int], quality: int, seed: int) -> None:
    width, height = size
    todo = [
        (str(pool), index, width, height, quality, seed)
        for index in range(n)
        if not (pool / relpath(index)).is_file()
    ]
    if not todo:
        return
    workers = max(1, min(usable_cores(), len(todo)))
    log(f"generating {len(todo)} {width}x{height} JPEGs in {pool} with {workers} worker(s)")
    started = time.perf_counter()
    step = max(1, min(1000, len(todo) // 5))
    with Pool(workers) as processes:
        jobs = processes.imap_unordered(_make_one, todo, chunksize=32)
        for done, _ in enumerate(jobs, 1):
            if done % step == 0 or done == len(todo):
                log(f"  {done}/{len(todo)}, {time.perf_counter() - started:.0f} s")


def small_library(
    cache: Path, n: int, size: tuple[int, int], *, quality: int = 85, seed: int = 0
) -> Path:
    """A folder holding exactly n distinct small JPEGs (hard links into the shared pool)."""
    width, height = size
    cache = Path(cache).expanduser().resolve()
    stem = f"small-{width}x{height}-q{quality}-seed{seed}"
    pool = cache / f"{stem}-pool"
    _fill_pool(pool, n, size, quality, seed)
    library = cache / f"{stem}-n{n}"
    for index in range(n):
        target = library / relpath(index)
        if target.is_file():
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(pool / relpath(index), target)
        except OSError:  # a file system without hard links
            shutil.copy2(pool / relpath(index), target)
    return library


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--size", type=parse_size, default=(640, 480), help="WxH (640x480)")
    parser.add_argument("--quality", type=int, default=85)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cache-dir", type=Path, default=Path("~/.cache/searchapp-bench"))
    args = parser.parse_args()
    started = time.perf_counter()
    library = small_library(args.cache_dir, args.n, args.size, quality=args.quality, seed=args.seed)
    config, checkpoint = tiny_model(args.cache_dir)
    files = [p for p in library.rglob("*.jpg")]
    emit(
        {
            "library": str(library),
            "files": len(files),
            "total_mib": round(sum(p.stat().st_size for p in files) / 2**20, 1),
            "tiny_model_config": str(config),
            "tiny_model_checkpoint": str(checkpoint),
            "seconds": round(time.perf_counter() - started, 2),
        }
    )


if __name__ == "__main__":
    main()
