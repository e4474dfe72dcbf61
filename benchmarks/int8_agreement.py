"""Does int8 rank like fp32 on a trained model? One JSON object.

Trains a small ViT CLIP on the demo's synthetic world (searchapp.demo: the demo's trainer and
recipe with a ViT image tower instead of its ResNet, stopped at `--max-seconds`), exports it with
the app's own exporter, quantises it (`--precision int8`'s graphs) and embeds held-out pictures
(a balanced set drawn with another seed than training's) and text queries (the world's shape and
colour phrases) with ONNX Runtime fp32 and int8. For each query (every text query, and every
picture as an image query over the others) it compares the two top-10 lists: mean overlap
(|top10_fp32 ∩ top10_int8| / 10) and the share of queries with the same top-1. The issue's bar
for making int8 the default on CPUs without native bf16 is a mean top-10 overlap ≥ 0.95.

    python benchmarks/int8_agreement.py --max-seconds 150
    python benchmarks/int8_agreement.py --model-dir DIR   # a model the demo trainer saved there
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import emit, log, machine_info

VIT_CONFIG: dict[str, Any] = {
    "embed_dim": 64,
    "vision_cfg": {"image_size": 32, "layers": 4, "width": 128, "head_width": 32, "patch_size": 4},
    "text_cfg": {"context_length": 20, "vocab_size": 49408, "width": 96, "heads": 3, "layers": 2},
}


def _agreement(fp32: np.ndarray, int8: np.ndarray, k: int, exclude_self: bool) -> dict[str, Any]:
    overlaps, same_top1 = [], []
    for a, b in zip(fp32, int8, strict=True):
        if exclude_self:
            a, b = a.copy(), b.copy()
            a[np.argmax(a)] = b[np.argmax(b)] = -np.inf
        top_a, top_b = np.argsort(-a)[:k], np.argsort(-b)[:k]
        overlaps.append(len(set(top_a) & set(top_b)) / k)
        same_top1.append(top_a[0] == top_b[0])
    return {
        "queries": len(overlaps),
        "top10_overlap_mean": round(float(np.mean(overlaps)), 4),
        "top10_overlap_min": round(float(np.min(overlaps)), 2),
        "top1_agreement": round(float(np.mean(same_top1)), 4),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--work", type=Path, default=Path("~/.cache/searchapp-bench/int8"))
    parser.add_argument("--max-seconds", type=float, default=150.0)
    parser.add_argument("--per-combination", type=int, default=3)
    parser.add_argument("--model-dir", type=Path, default=None, help="a trained model to reuse")
    parser.add_argument("--steps", type=int, default=300, help="training steps (ViT)")
    args = parser.parse_args()
    work = args.work.expanduser()
    import searchapp.demo.train as trainer
    from searchapp.config import Settings
    from searchapp.demo.world import BACKGROUNDS, COLOURS, SHAPES, write_pictures
    from searchapp.models.base import ModelSpec
    from searchapp.models.onnx_embedder import OnnxEmbedder
    from searchapp.models.onnx_quantize import ensure_int8
    from searchapp.models.registry import load_embedder
    from searchapp.models.runtime import RuntimeLoader

    settings = trainer.TrainSettings(steps=args.steps, max_seconds=args.max_seconds)
    started = time.perf_counter()
    if args.model_dir is not None:
        model = trainer.load_trained(args.model_dir.expanduser())
        if model is None:
            raise SystemExit(f"no trained model in {args.model_dir}")
        work = work / args.model_dir.expanduser().name
    else:
        trainer.MODEL_CONFIG = VIT_CONFIG
        folder = work / f"model-{settings.fingerprint()}"
        model = trainer.load_trained(folder) or trainer.train(folder, settings)
    train_seconds = time.perf_counter() - started
    log(f"trained in {train_seconds:.0f} s: {model.report}")
    spec = ModelSpec(trainer.MODEL_NAME, str(model.checkpoint), model.config_path)
    cpu = Settings(device="cpu", precision="fp32", cache_dir=work / "cache")
    identity = load_embedder(spec, cpu).identity
    loader = RuntimeLoader(spec, cpu.model_copy(update={"runtime": "onnx"}), identity)
    fp32_model = loader.load()
    manifest = ensure_int8(loader._exported())  # type: ignore[arg-type]
    int8_model = OnnxEmbedder(identity, manifest, "int8")

    pictures = write_pictures(work / "held-out", args.per_combination, seed=424242)
    from PIL import Image

    images = []
    for picture in pictures:
        with Image.open(picture.path) as image:
            images.append(fp32_model.preprocess(image.convert("RGB")))
    queries = [f"a {colour} {shape}" for shape in SHAPES for colour in COLOURS]
    queries += [
        f"a {shape} on a {background} background" for shape in SHAPES for background in BACKGROUNDS
    ]
    vectors = {
        name: (m.encode_images(images), m.encode_texts(queries))
        for name, m in (("fp32", fp32_model), ("int8", int8_model))
    }
    (img32, txt32), (img8, txt8) = vectors["fp32"], vectors["int8"]
    result = {
        "machine": machine_info(),
        "model": {
            "config": json.loads(model.config_path.read_text()),
            "training": model.report,
            "train_seconds": round(train_seconds),
        },
        "pictures": len(images),
        "vector_min_cosine_int8_vs_fp32": {
            "images": round(float(np.min(np.sum(img32 * img8, axis=1))), 5),
            "texts": round(float(np.min(np.sum(txt32 * txt8, axis=1))), 5),
        },
        "text_to_image": _agreement(txt32 @ img32.T, txt8 @ img8.T, 10, exclude_self=False),
        "image_to_image": _agreement(img32 @ img32.T, img8 @ img8.T, 10, exclude_self=True),
        "int8_manifest": {t: manifest.data[t].get("int8_min_cosine") for t in ("image", "text")},
    }
    emit(result)


if __name__ == "__main__":
    main()
