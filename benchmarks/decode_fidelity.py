"""Does reduced-scale JPEG decoding rank like open_clip's own full decode + resize? One JSON object.

A small trained model (the demo's: its trainer and world; reused from `--model-dir` or the
benchmark cache, else trained for at most `--max-seconds`) embeds photo-like JPEGs of the demo
world's scenes (drawn at `--sizes` pixels, with camera-like luminance and chroma noise and a soft
light gradient, quality 90). The reference is open_clip's own path: the whole JPEG decoded by
Pillow, then the model's preprocess transform. Each variant decodes with the app's
`decode_image` at a draft of `ceil(input × scale)` (the smallest DCT scale whose shortest side is
at least that), then the same transform and model, so only the decode differs. For every text
query (the world's phrases) and every picture as an image query over the others: mean top-10
overlap with the reference's top 10 and the share with the same top-1. The issue's target:
overlap ≥ 0.99.

Cost: decode + preprocess core-ms per photo on camera JPEGs (4000x3000, synthetic_library.py)
for ViT-B-32-256's input (256 px), one thread, variants interleaved, median.

    python benchmarks/decode_fidelity.py --model-dir DEMO_DATA_DIR/demo/models/searchapp-demo-clip-*
    python benchmarks/decode_fidelity.py   # trains the demo model first (at most 170 s)
"""

from __future__ import annotations

import argparse
import io
import math
import random
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import emit, log, machine_info
from synthetic_library import make_library

SCALES = (1.0, 1.5, 2.0, 3.0, 4.0)
COST_INPUT = 256


def photo_like(scene: Any, rng: random.Random, pixels: int) -> bytes:
    """One demo-world scene as a photo-like JPEG: light gradient, sensor noise, quality 90."""
    from PIL import Image

    from searchapp.demo.world import render

    image = np.asarray(render(scene, rng, pixels), dtype=np.float32)
    noise = np.random.default_rng(rng.getrandbits(32))
    ramp = np.linspace(-12, 12, pixels, dtype=np.float32)[None, :, None]
    luma = noise.normal(0, 7, (pixels, pixels, 1)).astype(np.float32)
    chroma = noise.normal(0, 3, (pixels, pixels, 3)).astype(np.float32)
    picture = Image.fromarray(np.clip(image + ramp + luma + chroma, 0, 255).astype(np.uint8))
    out = io.BytesIO()
    picture.save(out, "JPEG", quality=90)
    return out.getvalue()


def agreement(reference: np.ndarray, other: np.ndarray, exclude_self: bool) -> dict[str, float]:
    overlaps, same_top1 = [], []
    for a, b in zip(reference, other, strict=True):
        if exclude_self:
            a, b = a.copy(), b.copy()
            a[np.argmax(a)] = b[np.argmax(b)] = -np.inf
        top_a, top_b = np.argsort(-a)[:10], np.argsort(-b)[:10]
        overlaps.append(len(set(top_a.tolist()) & set(top_b.tolist())) / 10)
        same_top1.append(bool(top_a[0] == top_b[0]))
    return {
        "top10_overlap": round(float(np.mean(overlaps)), 4),
        "top10_overlap_min": round(float(np.min(overlaps)), 2),
        "top1_agreement": round(float(np.mean(same_top1)), 4),
    }


def trained_model(args: argparse.Namespace) -> Any:
    import searchapp.demo.train as trainer

    if args.model_dir is not None:
        model = trainer.load_trained(args.model_dir.expanduser())
        if model is None:
            raise SystemExit(f"no trained model in {args.model_dir}")
        return model
    settings = trainer.TrainSettings(max_seconds=args.max_seconds)
    folder = trainer.model_dir(args.cache_dir / "decode-fidelity", settings)
    return trainer.load_trained(folder) or trainer.train(folder, settings)


def fidelity(args: argparse.Namespace) -> dict[str, Any]:
    import open_clip
    import torch
    from PIL import Image

    from searchapp.decode import decode_image
    from searchapp.demo.world import BACKGROUNDS, COLOURS, SHAPES, balanced_scenes

    model_files = trained_model(args)
    log(f"model: {model_files.report}")
    open_clip.add_model_config(model_files.config_path)
    model, _, preprocess = open_clip.create_model_and_transforms(
        model_files.config_path.stem, pretrained=str(model_files.checkpoint)
    )
    model.eval()
    tokenizer = open_clip.get_tokenizer(model_files.config_path.stem)
    size = model.visual.image_size
    input_size = int(size if isinstance(size, int) else size[0])
    queries = [f"a {colour} {shape}" for shape in SHAPES for colour in COLOURS]
    queries += [f"a {shape} on a {bg} background" for shape in SHAPES for bg in BACKGROUNDS]
    with torch.no_grad():
        texts = model.encode_text(tokenizer(queries))
        texts = torch.nn.functional.normalize(texts, dim=-1).numpy()

    def embed(pictures: list[Image.Image]) -> np.ndarray:
        with torch.no_grad():
            batch = torch.stack([preprocess(p) for p in pictures])
            return torch.nn.functional.normalize(model.encode_image(batch), dim=-1).numpy()

    result: dict[str, Any] = {
        "model": {"config": model_files.config_path.stem, "input": input_size},
        "training": model_files.report,
        "text_queries": len(queries),
    }
    for size in args.sizes:
        scenes = balanced_scenes(args.per_combination, seed=31_000 + size)
        jpegs = [photo_like(scene, rng, size) for scene, rng in scenes]
        full = embed([Image.open(io.BytesIO(data)).convert("RGB") for data in jpegs])
        per_size: dict[str, Any] = {"pictures": len(jpegs)}
        for scale in SCALES:
            draft = math.ceil(input_size * scale)
            decoded = [decode_image(data, draft, 180.0).image for data in jpegs]
            vectors = embed(decoded)
            per_size[f"scale_{scale:g}"] = {
                "draft_min_side": draft,
                "decoded_side": min(decoded[0].size),
                "text_to_image": agreement(texts @ full.T, texts @ vectors.T, False),
                "image_to_image": agreement(full @ full.T, vectors @ vectors.T, True),
                "min_cosine_vs_full": round(float(np.min(np.sum(full * vectors, axis=1))), 5),
            }
            log(f"{size} px, scale {scale:g}: {per_size[f'scale_{scale:g}']}")
        result[f"photos_{size}px"] = per_size
    return result


def cost(args: argparse.Namespace) -> dict[str, Any]:
    """Decode + preprocess core-ms per camera photo (one thread), variants interleaved."""
    from searchapp.decode import decode_image
    from searchapp.models.image_preprocess import ImagePreprocess

    preprocess = ImagePreprocess(COST_INPUT, (0.48, 0.46, 0.41), (0.27, 0.26, 0.28))
    library = args.cache_dir / "side-by-side-300"
    paths = make_library(library, args.cost_photos, seed=1)[: args.cost_photos]
    datas = [path.read_bytes() for path in paths]
    variants: dict[str, int | None] = {
        f"scale_{s:g}": math.ceil(COST_INPUT * s) for s in SCALES if s in (1.0, 2.0, 4.0)
    }
    variants["full_decode"] = None
    timings: dict[str, list[float]] = {name: [] for name in variants}
    sides: dict[str, int] = {}
    for _ in range(args.cost_rounds):
        for name, draft in variants.items():
            started = time.process_time()
            for data in datas:
                image = decode_image(data, draft, 180.0).image
                preprocess(image)
            timings[name].append(1000 * (time.process_time() - started) / len(datas))
            sides[name] = min(image.size)
    return {
        "photos": len(datas),
        "input": COST_INPUT,
        "rounds": args.cost_rounds,
        **{
            name: {"core_ms_per_photo": round(statistics.median(t), 1), "decoded_side": sides[name]}
            for name, t in timings.items()
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model-dir", type=Path, default=None)
    parser.add_argument("--max-seconds", type=float, default=170.0)
    parser.add_argument("--sizes", type=int, nargs="+", default=[128, 384])
    parser.add_argument("--per-combination", type=int, default=6)
    parser.add_argument("--cost-photos", type=int, default=8)
    parser.add_argument("--cost-rounds", type=int, default=3)
    parser.add_argument("--cache-dir", type=Path, default=Path("~/.cache/searchapp-bench"))
    args = parser.parse_args()
    args.cache_dir = args.cache_dir.expanduser()
    started = time.perf_counter()
    import torch

    torch.set_num_threads(1)
    result = {"machine": machine_info(), "fidelity": fidelity(args), "cost": cost(args)}
    result["seconds"] = round(time.perf_counter() - started, 1)
    emit(result)


if __name__ == "__main__":
    main()
