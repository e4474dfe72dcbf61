"""Reduced-scale JPEG decoding keeps what the model sees: cosine ≥ 0.99 against full decode."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from searchapp.config import Settings
from searchapp.decode import decode_image
from searchapp.models.base import ModelSpec
from searchapp.models.registry import load_embedder
from tests.photos import draw_photo

CAMERA_SIZE = (4000, 3000)
VIT_B_32_LIKE = {
    "embed_dim": 32,
    "vision_cfg": {"image_size": 224, "layers": 2, "width": 64, "head_width": 32, "patch_size": 32},
    "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1},
}


def _camera_jpeg(seed: int, orientation: int | None = None) -> bytes:
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


@pytest.fixture(scope="module")
def b32_like(tmp_path_factory: pytest.TempPathFactory) -> ModelSpec:
    import open_clip
    import torch

    directory = tmp_path_factory.mktemp("b32-like")
    config = directory / "tiny-b32-224.json"
    config.write_text(json.dumps(VIT_B_32_LIKE))
    open_clip.add_model_config(config)
    torch.manual_seed(0)
    checkpoint = directory / "tiny-b32-224.pt"
    torch.save(open_clip.create_model(config.stem).state_dict(), checkpoint)
    return ModelSpec(config.stem, str(checkpoint), config)


def test_camera_size_jpeg_is_decoded_at_reduced_scale_and_upright() -> None:
    data = _camera_jpeg(seed=3, orientation=6)

    decoded = decode_image(data, draft_size=224, max_megapixels=180)

    assert (decoded.meta.width, decoded.meta.height) == (3000, 4000)
    assert decoded.image.height > decoded.image.width
    assert min(decoded.image.size) >= 224
    assert max(decoded.image.size) <= 1000


def test_fast_path_embeddings_stay_within_cosine_0_99_of_full_decode(
    b32_like: ModelSpec, tmp_path: Path
) -> None:
    embedder = load_embedder(b32_like, Settings(data_dir=tmp_path, precision="fp32"))
    photos = [_camera_jpeg(seed, orientation) for seed, orientation in ((1, None), (2, 6), (4, 3))]

    full = [decode_image(p, None, 180).image for p in photos]
    fast = [decode_image(p, embedder.input_size, 180).image for p in photos]
    full_vectors = embedder.encode_images([embedder.preprocess(image) for image in full])
    fast_vectors = embedder.encode_images([embedder.preprocess(image) for image in fast])

    assert np.sum(full_vectors * fast_vectors, axis=1).min() >= 0.99
    assert all(f.size != q.size for f, q in zip(full, fast, strict=True))
