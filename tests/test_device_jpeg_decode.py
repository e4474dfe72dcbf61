"""Batched JPEG decoding on the model's device matches the CPU path (checked on CPU here)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from indexer.device_decode import TensorPreprocess, decode_jpegs
from searchapp.config import Settings
from searchapp.decode import decode_image
from searchapp.models.base import ModelSpec
from searchapp.models.registry import load_embedder
from tests.camera import b32_like_model, camera_jpeg
from tests.conftest import CliRunner

ORIENTATIONS = (None, 2, 3, 4, 5, 6, 7, 8)


@pytest.fixture(scope="module")
def b32_like(tmp_path_factory: pytest.TempPathFactory) -> ModelSpec:
    return b32_like_model(tmp_path_factory.mktemp("b32-like"))


def _pixel_correlation(a: object, b: object) -> float:
    x = np.asarray(a, dtype=np.float64).ravel()
    y = np.asarray(b, dtype=np.float64).ravel()
    return float(np.corrcoef(x, y)[0, 1])


def _device_vs_cpu(spec: ModelSpec, device: str, tmp_path: Path) -> np.ndarray:
    embedder = load_embedder(spec, Settings(data_dir=tmp_path, device=device, precision="fp32"))
    assert embedder.tensor_preprocess is not None
    photos = [camera_jpeg(seed, orientation) for seed, orientation in enumerate(ORIENTATIONS)]

    on_device = decode_jpegs(
        photos, list(ORIENTATIONS), device, TensorPreprocess(*embedder.tensor_preprocess)
    )
    on_cpu = [embedder.preprocess(decode_image(p, None, 180).image) for p in photos]
    for tensor, reference in zip(on_device, on_cpu, strict=True):
        assert _pixel_correlation(tensor.cpu(), reference) >= 0.98
    device_vectors = embedder.encode_images(list(on_device))
    cpu_vectors = embedder.encode_images(on_cpu)

    return np.sum(device_vectors * cpu_vectors, axis=1)


def test_exif_orientation_changes_the_tensor_path_output(b32_like: ModelSpec) -> None:
    photo = camera_jpeg(11, 6)
    preprocess = TensorPreprocess(224, (0.5, 0.5, 0.5), (0.5, 0.5, 0.5))

    upright, sideways = decode_jpegs([photo, photo], [6, None], "cpu", preprocess)

    assert _pixel_correlation(upright, sideways) < 0.9


def test_tensor_decode_path_matches_pil_for_every_exif_orientation(
    b32_like: ModelSpec, tmp_path: Path
) -> None:
    cosines = _device_vs_cpu(b32_like, "cpu", tmp_path)

    assert cosines.min() >= 0.99


@pytest.mark.cuda
def test_gpu_jpeg_decode_matches_cpu_decode(b32_like: ModelSpec, tmp_path: Path) -> None:
    import torch

    if not torch.cuda.is_available():
        pytest.skip("no CUDA GPU on this machine")
    cosines = _device_vs_cpu(b32_like, "cuda", tmp_path)

    assert cosines.min() >= 0.99


@pytest.mark.cuda
def test_indexing_on_cuda_decodes_jpegs_on_the_gpu_and_finds_each_photo(
    cli: CliRunner, b32_like: ModelSpec, tmp_path: Path
) -> None:
    import torch

    if not torch.cuda.is_available():
        pytest.skip("no CUDA GPU on this machine")
    folder = tmp_path / "camera"
    folder.mkdir()
    for seed, orientation in enumerate((None, 6, 3, 8)):
        (folder / f"IMG_{seed}.jpg").write_bytes(camera_jpeg(seed, orientation))
    flags = ["--model-config", str(b32_like.config_path), "--pretrained", str(b32_like.pretrained)]

    summary = json.loads(
        cli("index", str(folder), *flags, "--json", env={"SEARCHAPP_DEVICE": "cuda"}).stdout
    )
    nearest = json.loads(
        cli(
            "similar",
            str(folder / "IMG_1.jpg"),
            "--json",
            "-k",
            "1",
            env={"SEARCHAPP_DEVICE": "cuda", "SEARCHAPP_PRECISION": "fp16"},
        ).stdout
    )

    assert summary["embedded"] == 4 and summary["failed"] == []
    assert nearest[0]["path"] == str(folder / "IMG_1.jpg")
