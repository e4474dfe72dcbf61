"""Camera-size JPEGs and a model with a ViT-B-32-like input, for decode-path tests."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
from PIL import Image

from searchapp.models.base import ModelSpec
from tests.photos import draw_photo

CAMERA_SIZE = (4000, 3000)
VIT_B_32_LIKE = {
    "embed_dim": 32,
    "vision_cfg": {"image_size": 224, "layers": 2, "width": 64, "head_width": 32, "patch_size": 32},
    "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1},
}


def camera_jpeg(seed: int, orientation: int | None = None) -> bytes:
    small = draw_photo(seed, (400, 300))
    rng = np.random.default_rng(seed)
    big = np.asarray(small.resize(CAMERA_SIZE, Image.Resampling.BICUBIC), dtype=np.int16)
    noisy = np.clip(big + rng.normal(0, 6, big.shape), 0, 255).astype(np.uint8)
    exif = Image.Exif()
    if orientation:
        exif[0x0112] = orientation
    out = io.BytesIO()
    Image.fromarray(noisy).save(out, "JPEG", quality=90, exif=exif)
    return out.getvalue()


def b32_like_model(directory: Path) -> ModelSpec:
    import open_clip
    import torch

    config = directory / "tiny-b32-224.json"
    config.write_text(json.dumps(VIT_B_32_LIKE))
    open_clip.add_model_config(config)
    torch.manual_seed(0)
    checkpoint = directory / "tiny-b32-224.pt"
    torch.save(open_clip.create_model(config.stem).state_dict(), checkpoint)
    return ModelSpec(config.stem, str(checkpoint), config)
