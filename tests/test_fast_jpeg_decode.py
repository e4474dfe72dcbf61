"""Reduced-scale JPEG decoding keeps what the model sees: cosine ≥ 0.99 against full decode."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from searchapp.config import Settings
from searchapp.decode import decode_image
from searchapp.image_input import decode_for_model
from searchapp.models.base import ModelSpec
from searchapp.models.registry import load_embedder
from tests.camera import b32_like_model, camera_jpeg


@pytest.fixture(scope="module")
def b32_like(tmp_path_factory: pytest.TempPathFactory) -> ModelSpec:
    return b32_like_model(tmp_path_factory.mktemp("b32-like"))


def test_camera_size_jpeg_is_decoded_at_reduced_scale_and_upright() -> None:
    data = camera_jpeg(seed=3, orientation=6)

    decoded = decode_image(data, draft_size=224, max_megapixels=180)

    assert (decoded.meta.width, decoded.meta.height) == (3000, 4000)
    assert decoded.image.height > decoded.image.width
    assert min(decoded.image.size) >= 224
    assert max(decoded.image.size) <= 1000


def test_by_default_a_jpeg_is_decoded_to_at_least_twice_the_models_input(tmp_path: Path) -> None:
    data = camera_jpeg(seed=5)

    default = decode_for_model(data, Settings(data_dir=tmp_path), 224).image
    at_input = decode_for_model(data, Settings(data_dir=tmp_path, jpeg_draft_scale=1), 224).image
    full = decode_for_model(data, Settings(data_dir=tmp_path, fast_jpeg_decode=False), 224).image

    assert min(default.size) >= 448 and default.size == (1000, 750)
    assert at_input.size == (500, 375) and full.size == (4000, 3000)


def test_fast_path_embeddings_stay_within_cosine_0_99_of_full_decode(
    b32_like: ModelSpec, tmp_path: Path
) -> None:
    embedder = load_embedder(b32_like, Settings(data_dir=tmp_path, precision="fp32"))
    photos = [camera_jpeg(seed, orientation) for seed, orientation in ((1, None), (2, 6), (4, 3))]

    full = [decode_image(p, None, 180).image for p in photos]
    fast = [decode_image(p, embedder.input_size, 180).image for p in photos]
    full_vectors = embedder.encode_images([embedder.preprocess(image) for image in full])
    fast_vectors = embedder.encode_images([embedder.preprocess(image) for image in fast])

    assert np.sum(full_vectors * fast_vectors, axis=1).min() >= 0.99
    assert all(f.size != q.size for f, q in zip(full, fast, strict=True))
