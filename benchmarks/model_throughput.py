"""Model-only image-encoding throughput of open_clip architectures on this machine, fp32 vs bf16.

For each architecture: random weights (torch.manual_seed(0), same compute as the pretrained
model), the model's own validation preprocessing applied to photo-like random images, then
`encode_image` on one batch (default 32) under torch.inference_mode, after warm-up, timed over a
few iterations (median). bf16 mirrors OpenClipEmbedder: weights and inputs cast to
torch.bfloat16, outputs L2-normalised in float32. The bf16 embeddings of the batch are compared
with the fp32 ones (cosine similarity, min and mean) to show what bf16 costs in accuracy.

    python benchmarks/model_throughput.py
    python benchmarks/model_throughput.py --models ViT-B-32-256 --iters 2 --batch 8
"""

from __future__ import annotations

import argparse
import difflib
import gc
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import ForeignCpu, emit, log, machine_info, usable_cores
from synthetic_library import photo_pixels

DEFAULT_MODELS = ("ViT-B-32-256", "ViT-B-32", "ViT-B-16-SigLIP-256", "MobileCLIP-S2")


def sample_batch(preprocess: Any, batch: int, seed: int) -> Any:
    """`batch` photo-like 640x480 images through the model's own preprocessing, stacked."""
    import torch

    rng = np.random.default_rng(seed)
    images = [photo_pixels(rng, 640, 480) for _ in range(batch)]
    return torch.stack([preprocess(image) for image in images])


def time_encoder(model: Any, pixels: Any, warmup: int, iters: int) -> tuple[list[float], Any]:
    """Seconds per `encode_image` call, and the L2-normalised float32 embeddings. On CUDA each
    call waits for the device, so a timing covers the work, not only its launch."""
    import torch

    def run() -> Any:
        with torch.inference_mode():
            out = torch.nn.functional.normalize(model.encode_image(pixels).float(), dim=-1)
        if out.is_cuda:
            torch.cuda.synchronize(out.device)
        return out

    for _ in range(warmup):
        run()
    timings = []
    out = None
    for _ in range(iters):
        started = time.perf_counter()
        out = run()
        timings.append(time.perf_counter() - started)
    return timings, out


def image_size_of(model: Any) -> int | list[int]:
    size = getattr(model.visual, "image_size", None)
    if size is None:
        size = getattr(getattr(model.visual, "trunk", None), "default_cfg", {}).get("input_size")
        size = size[1:] if size else None
    if isinstance(size, (tuple, list)):
        return int(size[0]) if len(set(size)) == 1 else [int(v) for v in size]
    return int(size) if size is not None else -1


def bench_model(name: str, args: argparse.Namespace) -> dict[str, Any]:
    import open_clip
    import torch

    log(f"== {name}: building with random weights")
    torch.manual_seed(0)
    model, _, preprocess = open_clip.create_model_and_transforms(name, pretrained=None)
    model = model.eval()
    reparameterized = False
    if args.reparameterize:
        from timm.models import reparameterize_model

        before = sum(p.numel() for p in model.visual.parameters())
        model.visual = reparameterize_model(model.visual)
        reparameterized = sum(p.numel() for p in model.visual.parameters()) != before
    result: dict[str, Any] = {
        "name": name,
        "params_m": round(sum(p.numel() for p in model.parameters()) / 1e6, 1),
        "visual_params_m": round(sum(p.numel() for p in model.visual.parameters()) / 1e6, 1),
        "image_size": image_size_of(model),
        "batch": args.batch,
    }
    if args.reparameterize:
        result["reparameterized"] = reparameterized
    pixels = sample_batch(preprocess, args.batch, args.seed)
    result["input_shape"] = list(pixels.shape)

    with ForeignCpu() as fp32_cpu:
        fp32_times, fp32_out = time_encoder(model.float(), pixels, args.warmup, args.iters)
    fp32_median = statistics.median(fp32_times)
    result["fp32_images_per_s"] = round(args.batch / fp32_median, 2)
    result["fp32_batch_s"] = [round(t, 3) for t in fp32_times]
    log(f"   fp32: {result['fp32_images_per_s']} images/s ({fp32_cpu.as_dict()})")

    with ForeignCpu() as bf16_cpu:
        bf16_times, bf16_out = time_encoder(
            model.to(torch.bfloat16), pixels.to(torch.bfloat16), args.warmup, args.iters
        )
    bf16_median = statistics.median(bf16_times)
    result["bf16_images_per_s"] = round(args.batch / bf16_median, 2)
    result["bf16_batch_s"] = [round(t, 3) for t in bf16_times]
    result["bf16_speedup"] = round(fp32_median / bf16_median, 2)
    cosine = (fp32_out * bf16_out).sum(dim=-1)
    result["bf16_cosine_min"] = round(float(cosine.min()), 5)
    result["bf16_cosine_mean"] = round(float(cosine.mean()), 5)
    result["foreign_cpu"] = {"fp32": fp32_cpu.as_dict(), "bf16": bf16_cpu.as_dict()}
    log(
        f"   bf16: {result['bf16_images_per_s']} images/s, speedup {result['bf16_speedup']}x, "
        f"cosine min {result['bf16_cosine_min']} ({bf16_cpu.as_dict()})"
    )
    del model, pixels
    gc.collect()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--models",
        default=",".join(DEFAULT_MODELS),
        help=f"comma-separated open_clip architectures (default: {','.join(DEFAULT_MODELS)})",
    )
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--warmup", type=int, default=1, help="untimed calls first (default 1)")
    parser.add_argument("--iters", type=int, default=3, help="timed calls (default 3)")
    parser.add_argument("--threads", type=int, default=usable_cores(), help="torch threads")
    parser.add_argument("--seed", type=int, default=0, help="seed of the sample images")
    parser.add_argument(
        "--reparameterize",
        action="store_true",
        help="fuse train-time branches (timm reparameterize_model, e.g. MobileCLIP's FastViT) "
        "before timing; the app does not do this today",
    )
    args = parser.parse_args()

    import open_clip
    import torch

    torch.set_num_threads(args.threads)
    known = set(open_clip.list_models())
    results: list[dict[str, Any]] = []
    for name in (part.strip() for part in args.models.split(",") if part.strip()):
        if name not in known:
            close = difflib.get_close_matches(name, sorted(known), n=3)
            log(f"== {name}: unknown to open_clip {open_clip.__version__}; close: {close}")
            results.append({"name": name, "error": "unknown architecture", "close": close})
            continue
        try:
            results.append(bench_model(name, args))
        except Exception as exc:  # one broken architecture must not lose the others' numbers
            log(f"== {name}: failed: {type(exc).__name__}: {exc}")
            results.append({"name": name, "error": f"{type(exc).__name__}: {exc}"})
    emit({"machine": machine_info(with_torch=True), "models": results})


if __name__ == "__main__":
    main()
