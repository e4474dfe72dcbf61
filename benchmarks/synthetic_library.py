"""Deterministic synthetic photo library for indexing benchmarks.

Every file is a camera-size JPEG (default 4000x3000, quality 90) with photo-like statistics, so
that decoders and file sizes behave like a phone camera roll (about 2-5 MB each): a sky-to-ground
gradient, low- and mid-frequency colour fields, filled shapes with hard edges, and luminance and
chroma noise whose strength varies over the frame. A quarter of the landscape photos carry an EXIF
Orientation of 6, 8 or 3 (pixels stay in sensor orientation, as cameras store them), some are
stored portrait, and every JPEG has Make/Model/DateTime/DateTimeOriginal. Files live in nested
folders `YYYY/YYYY-MM-DD event/[burst/]` and their mtime is the synthetic capture time.

The same (n, seed, size, quality) always gives byte-identical files, whatever the worker count;
the plan for n files is a prefix of the plan for more. Files that already exist are kept (cache),
and files are written to a temporary name first, so an interrupted run leaves no half file.

    python benchmarks/synthetic_library.py ~/.cache/searchapp-bench/lib --n 200 --seed 0
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass
from multiprocessing import Pool
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import emit, log, usable_cores

EVENTS = (
    "beach", "birthday", "hike", "city walk", "garden", "dinner", "zoo", "road trip", "snow",
    "concert", "wedding", "museum", "park", "kids", "cats", "market", "lake", "mountains",
)  # fmt: skip
EXIF_MAKE, EXIF_MODEL, EXIF_DATETIME, EXIF_ORIENTATION = 0x010F, 0x0110, 0x0132, 0x0112
EXIF_IFD, EXIF_DATETIME_ORIGINAL = 0x8769, 0x9003
DEFAULT_SIZE = (4000, 3000)


@dataclass(frozen=True)
class PlannedPhoto:
    index: int
    relpath: str
    width: int
    height: int
    orientation: int
    taken: dt.datetime


def plan_library(
    n: int, seed: int, size: tuple[int, int] = DEFAULT_SIZE, rotated_frac: float = 0.25
) -> list[PlannedPhoto]:
    """Which files to create; deterministic, and plan(n) is a prefix of plan(n + k)."""
    rng = np.random.default_rng([seed, 0x5EA2C4])
    photos: list[PlannedPhoto] = []
    taken = dt.datetime(2018, 1, 1, 9, 0, 0)
    counter = 1
    while len(photos) < n:
        taken += dt.timedelta(days=int(rng.integers(1, 30)), hours=int(rng.integers(0, 10)))
        event = EVENTS[int(rng.integers(len(EVENTS)))]
        folder = Path(str(taken.year), f"{taken:%Y-%m-%d} {event}")
        pixel_style = rng.random() < 0.4
        for _ in range(int(rng.integers(5, 41))):
            if len(photos) >= n:
                break
            taken += dt.timedelta(seconds=int(rng.integers(2, 900)))
            sub = folder / "burst" if rng.random() < 0.1 else folder
            name = (
                f"PXL_{taken:%Y%m%d_%H%M%S}_{counter:04d}.jpg"
                if pixel_style
                else f"IMG_{counter:04d}.JPG"
            )
            width, height = size
            orientation = 1
            if rng.random() < 0.15:  # held upright, stored upright: no rotation tag
                width, height = height, width
            elif rng.random() < rotated_frac:
                orientation = int(rng.choice([6, 6, 8, 3]))
            photos.append(
                PlannedPhoto(len(photos), str(sub / name), width, height, orientation, taken)
            )
            counter += 1
    return photos


def _field(rng: np.random.Generator, grid: tuple[int, int], size: tuple[int, int]) -> Image.Image:
    """Smooth random RGB field: a small random grid upsampled bicubically to `size`."""
    cells = rng.integers(0, 256, (grid[1], grid[0], 3), dtype=np.uint8)
    return Image.fromarray(cells, "RGB").resize(size, Image.Resampling.BICUBIC)


def photo_pixels(rng: np.random.Generator, width: int, height: int) -> Image.Image:
    """One photo-like RGB image; about 0.5 s for 12 MP on one core."""
    # 1. background at 1/8 scale: gradient + colour clouds + mid-frequency texture, then upsampled
    low = (max(2, width // 8), max(2, height // 8))
    top, bottom = rng.uniform(30, 255, 3), rng.uniform(0, 200, 3)
    y = np.linspace(0.0, 1.0, low[1], dtype=np.float32)[:, None, None]
    gradient = top * (1.0 - y) + bottom * y  # (h, 1, 3)
    clouds = np.asarray(_field(rng, (4, 3), low), dtype=np.float32)
    gh = int(rng.integers(15, 60))
    texture = np.asarray(_field(rng, (max(2, gh * width // height), gh), low), dtype=np.float32)
    texture = 0.7 * texture.mean(axis=2, keepdims=True) + 0.3 * texture  # mostly luminance
    background = 0.55 * gradient + 0.3 * clouds + 0.15 * texture
    image = Image.fromarray(np.clip(background, 0, 255).astype(np.uint8), "RGB")
    image = image.resize((width, height), Image.Resampling.BICUBIC)

    # 2. objects with hard edges
    draw = ImageDraw.Draw(image)
    short = min(width, height)
    for _ in range(int(rng.integers(6, 20))):
        x0, y0 = int(rng.integers(-short // 8, width)), int(rng.integers(-short // 8, height))
        bw, bh = (int(v) for v in rng.integers(short // 30, short // 2, 2))
        colour = tuple(int(v) for v in rng.integers(0, 256, 3))
        kind = rng.random()
        if kind < 0.4:
            outline = tuple(c // 2 for c in colour)
            draw.ellipse(
                [x0, y0, x0 + bw, y0 + bh], fill=colour, outline=outline, width=max(1, short // 300)
            )
        elif kind < 0.75:
            draw.rectangle([x0, y0, x0 + bw, y0 + bh], fill=colour)
        else:
            corners = int(rng.integers(3, 7))
            points = [
                (x0 + int(rng.integers(0, bw)), y0 + int(rng.integers(0, bh)))
                for _ in range(corners)
            ]
            draw.polygon(points, fill=colour)
    for _ in range(int(rng.integers(0, 6))):  # wires, horizons
        ends = [tuple(int(v) for v in rng.integers(0, max(width, height), 2)) for _ in range(2)]
        colour = tuple(int(v) for v in rng.integers(0, 256, 3))
        draw.line(ends, fill=colour, width=int(rng.integers(1, max(2, short // 200))))

    # 3. sensor noise / fine texture, in int16 fixed point; its strength varies over the frame
    sigma = float(rng.uniform(3.5, 7.0))
    strength = np.asarray(
        Image.fromarray(rng.integers(0, 256, (6, 8), dtype=np.uint8), "L").resize(
            (width, height), Image.Resampling.BICUBIC
        ),
        dtype=np.int16,
    )
    # per-pixel noise scale in 1/16 units: sigma * (0.2 .. 1.8) * 16
    strength = (strength * int(sigma * 1.6 * 16) >> 8) + int(sigma * 0.2 * 16)
    luma = (rng.standard_normal((height, width), dtype=np.float32) * 16).astype(np.int16)
    luma *= strength
    luma >>= 8
    pixels = np.asarray(image, dtype=np.int16)
    pixels += luma[:, :, None]
    # chroma noise at half resolution, like a real sensor after demosaicing
    gauss = rng.standard_normal(((height + 1) // 2, (width + 1) // 2, 3), dtype=np.float32)
    chroma = (gauss * (sigma * 0.35)).astype(np.int16)
    pixels += chroma.repeat(2, axis=0).repeat(2, axis=1)[:height, :width]
    np.clip(pixels, 0, 255, out=pixels)
    return Image.fromarray(pixels.astype(np.uint8), "RGB")


def _exif(photo: PlannedPhoto) -> bytes:
    exif = Image.Exif()
    stamp = f"{photo.taken:%Y:%m:%d %H:%M:%S}"
    exif[EXIF_MAKE] = "BenchCam"
    exif[EXIF_MODEL] = "Synth 12"
    exif[EXIF_DATETIME] = stamp
    exif[EXIF_ORIENTATION] = photo.orientation
    exif.get_ifd(EXIF_IFD)[EXIF_DATETIME_ORIGINAL] = stamp
    return exif.tobytes()


def _make_one(job: tuple[PlannedPhoto, str, int, int]) -> tuple[int, int, bool]:
    """Create one file unless it exists; returns (index, bytes, created)."""
    photo, root, seed, quality = job
    path = Path(root, photo.relpath)
    if path.is_file() and path.stat().st_size > 0:
        return photo.index, path.stat().st_size, False
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng([seed, photo.index])
    image = photo_pixels(rng, photo.width, photo.height)
    partial = path.with_name(f".{path.name}.{os.getpid()}.part")
    image.save(partial, "JPEG", quality=quality, exif=_exif(photo))
    stamp = photo.taken.timestamp()
    os.utime(partial, (stamp, stamp))
    os.replace(partial, path)
    return photo.index, path.stat().st_size, True


def make_library(
    root: Path,
    n: int,
    seed: int,
    size: tuple[int, int] = DEFAULT_SIZE,
    *,
    quality: int = 90,
    workers: int | None = None,
    rotated_frac: float = 0.25,
) -> list[Path]:
    """Create (or complete) the library under `root`; returns the n photo paths in plan order."""
    root = Path(root).expanduser().resolve()
    root.mkdir(parents=True, exist_ok=True)
    photos = plan_library(n, seed, size, rotated_frac)
    jobs = [(photo, str(root), seed, quality) for photo in photos]
    todo = [job for job in jobs if not (root / job[0].relpath).is_file()]
    if todo:
        workers = max(1, min(workers or usable_cores(), len(todo)))
        log(f"generating {len(todo)} of {n} photos under {root} with {workers} worker(s)")
        started = time.perf_counter()
        if workers == 1:
            results = map(_make_one, todo)
            _drain(results, len(todo), started)
        else:
            with Pool(workers) as pool:
                _drain(pool.imap_unordered(_make_one, todo, chunksize=1), len(todo), started)
    return [root / photo.relpath for photo in photos]


def make_burst_library(
    root: Path,
    n: int,
    seed: int,
    size: tuple[int, int] = DEFAULT_SIZE,
    *,
    distinct: int = 128,
    quality: int = 90,
    workers: int | None = None,
) -> list[Path]:
    """A library of n files made from `distinct` generated photos, like a camera roll of bursts:
    file i has the pixels of photo i % distinct and its own capture time in EXIF, so every file
    has different bytes (and is embedded, not linked as a duplicate) while only `distinct`
    photos are drawn (0.5-2.5 s each on one core, which is what makes large libraries slow).
    Decoding costs what the drawn photos cost; EXIF orientations are theirs. The drawn photos
    live beside `root`, in `<root>-base`."""
    root = Path(root).expanduser().resolve()
    distinct = max(1, min(distinct, n))
    bases = make_library(
        root.with_name(f"{root.name}-base"), distinct, seed, size, quality=quality, workers=workers
    )
    base_photos = plan_library(distinct, seed, size)
    photos = plan_library(n, seed, size)
    datas = [path.read_bytes() for path in bases]
    for photo in photos:
        path = root / photo.relpath
        if path.is_file() and path.stat().st_size > 0:
            continue
        base = base_photos[photo.index % distinct]
        old, new = (f"{when:%Y:%m:%d %H:%M:%S}".encode() for when in (base.taken, photo.taken))
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f".{path.name}.{os.getpid()}.part")
        partial.write_bytes(datas[photo.index % distinct].replace(old, new, 2))
        stamp = photo.taken.timestamp()
        os.utime(partial, (stamp, stamp))
        os.replace(partial, path)
    return [root / photo.relpath for photo in photos]


def _drain(results: Iterable[object], total: int, started: float) -> None:
    for done, _ in enumerate(results, 1):
        if done % 10 == 0 or done == total:
            log(f"  {done}/{total} photos, {time.perf_counter() - started:.0f} s")


def parse_size(text: str) -> tuple[int, int]:
    width, _, height = text.lower().partition("x")
    return int(width), int(height)


def summarise(paths: list[Path], photos: list[PlannedPhoto]) -> dict[str, object]:
    sizes = sorted(path.stat().st_size for path in paths)
    orientations: dict[str, int] = {}
    for photo in photos:
        orientations[str(photo.orientation)] = orientations.get(str(photo.orientation), 0) + 1
    return {
        "n": len(paths),
        "total_mib": round(sum(sizes) / 2**20, 1),
        "bytes_min": sizes[0] if sizes else 0,
        "bytes_median": int(statistics.median(sizes)) if sizes else 0,
        "bytes_max": sizes[-1] if sizes else 0,
        "orientations": orientations,
        "portrait_stored": sum(1 for photo in photos if photo.height > photo.width),
        "folders": len({path.parent for path in paths}),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("root", type=Path, help="library folder (existing files are kept)")
    parser.add_argument("--n", type=int, default=200, help="number of photos (default 200)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--size", type=parse_size, default=DEFAULT_SIZE, help="WxH, e.g. 4000x3000")
    parser.add_argument("--quality", type=int, default=90)
    parser.add_argument("--workers", type=int, default=None, help="default: usable cores")
    parser.add_argument("--rotated-frac", type=float, default=0.25)
    args = parser.parse_args()

    started = time.perf_counter()
    root = args.root.expanduser().resolve()
    before = {p for p in root.rglob("*") if p.is_file()} if root.exists() else set()
    paths = make_library(
        root,
        args.n,
        args.seed,
        args.size,
        quality=args.quality,
        workers=args.workers,
        rotated_frac=args.rotated_frac,
    )
    photos = plan_library(args.n, args.seed, args.size, args.rotated_frac)
    emit(
        {
            "root": str(root),
            "seed": args.seed,
            "size": f"{args.size[0]}x{args.size[1]}",
            "quality": args.quality,
            "generated": sum(1 for path in paths if path not in before),
            "reused": sum(1 for path in paths if path in before),
            "seconds": round(time.perf_counter() - started, 2),
            **summarise(paths, photos),
        }
    )


if __name__ == "__main__":
    main()
