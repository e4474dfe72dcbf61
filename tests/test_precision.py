"""bf16 on CPUs with native support, fp16 on CUDA; both stay close to fp32."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from searchapp.config import Settings
from searchapp.models.base import ModelSpec
from searchapp.models.precision import choose_precision, cpu_has_native_bf16
from searchapp.models.registry import load_embedder
from tests.conftest import TinyModel
from tests.photos import draw_photo


def _embed(tiny: TinyModel, device: str, precision: str) -> tuple[np.ndarray, np.ndarray]:
    spec = ModelSpec(tiny.name, str(tiny.checkpoint), tiny.config_path)
    embedder = load_embedder(spec, Settings(device=device, precision=precision))  # type: ignore[arg-type]
    images = [embedder.preprocess(draw_photo(seed, (160, 120))) for seed in range(8)]
    texts = ["a red circle", "a photo of a dog", "kids on a beach at sunset"]
    return embedder.encode_images(images), embedder.encode_texts(texts)


def _cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.sum(a * b, axis=1)


def test_auto_precision_is_fp16_on_cuda_and_bf16_only_with_native_cpu_support() -> None:
    assert choose_precision("cuda", "auto") == "fp16"
    assert choose_precision("cpu", "auto") == ("bf16" if cpu_has_native_bf16() else "fp32")
    assert choose_precision("cpu", "fp32") == "fp32"


def test_embeddings_are_unit_vectors(tiny_model: TinyModel) -> None:
    images, texts = _embed(tiny_model, "cpu", "fp32")

    np.testing.assert_allclose(np.linalg.norm(images, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(texts, axis=1), 1.0, atol=1e-5)
    assert images.dtype == np.float32


def test_bf16_embeddings_stay_within_cosine_0_99_of_fp32(tiny_model: TinyModel) -> None:
    fp32_images, fp32_texts = _embed(tiny_model, "cpu", "fp32")
    bf16_images, bf16_texts = _embed(tiny_model, "cpu", "bf16")

    assert _cosines(fp32_images, bf16_images).min() >= 0.99
    assert _cosines(fp32_texts, bf16_texts).min() >= 0.99


@pytest.mark.cuda
def test_cuda_fp16_embeddings_stay_within_cosine_0_99_of_fp32(tiny_model: TinyModel) -> None:
    import torch

    if not torch.cuda.is_available():
        pytest.skip("no CUDA GPU on this machine")
    fp32_images, fp32_texts = _embed(tiny_model, "cpu", "fp32")
    fp16_images, fp16_texts = _embed(tiny_model, "cuda", "fp16")

    assert _cosines(fp32_images, fp16_images).min() >= 0.99
    assert _cosines(fp32_texts, fp16_texts).min() >= 0.99


def test_fp16_on_cpu_is_refused_with_advice() -> None:
    from searchapp.errors import SearchAppError

    with pytest.raises(SearchAppError, match="fp16 is only supported on CUDA"):
        choose_precision("cpu", "fp16")


def test_checkpoint_loads_through_the_user_path(tiny_model: TinyModel, tmp_path: Path) -> None:
    spec = ModelSpec(tiny_model.name, str(tiny_model.checkpoint), tiny_model.config_path)

    embedder = load_embedder(spec, Settings(data_dir=tmp_path, precision="fp32"))

    assert embedder.dim == 32
    assert embedder.input_size == 32
    assert embedder.identity.is_local_checkpoint
