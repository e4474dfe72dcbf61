"""Exported image and text towers on ONNX Runtime give torch's vectors; a damaged or stale
export is found and rebuilt."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from searchapp.config import Settings
from searchapp.models.base import ModelSpec
from searchapp.models.export_cache import IMAGE_GRAPH, export_dir, load_manifest
from searchapp.models.onnx_embedder import OnnxEmbedder, OnnxImageEncoder, OnnxTextEncoder
from searchapp.models.registry import load_embedder
from searchapp.models.runtime import RuntimeLoader
from tests.conftest import TINY_CONFIG, TinyModel
from tests.photos import draw_photo

TEXTS = ["a red circle", "a photo of a dog", "kids on a beach at sunset", "ÉTÉ 2024 — café ☕"]
RESNET_VISION = {"image_size": 64, "layers": [1, 1, 1, 1], "width": 8}
RESNET_CONFIG = {**TINY_CONFIG, "vision_cfg": RESNET_VISION}


def _tiny(directory: Path, name: str, config: dict[str, object], seed: int) -> TinyModel:
    import open_clip
    import torch

    config_path = directory / f"{name}.json"
    config_path.write_text(json.dumps(config))
    open_clip.add_model_config(config_path)
    torch.manual_seed(seed)
    checkpoint = directory / f"{name}.pt"
    torch.save(open_clip.create_model(name).state_dict(), checkpoint)
    return TinyModel(config_path, checkpoint)


def _spec(tiny: TinyModel) -> ModelSpec:
    return ModelSpec(tiny.name, str(tiny.checkpoint), tiny.config_path)


def _cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.sum(a * b, axis=1)


@pytest.mark.parametrize("architecture", ["vit", "resnet"])
def test_exported_towers_give_torchs_vectors(tmp_path: Path, architecture: str) -> None:
    config = TINY_CONFIG if architecture == "vit" else RESNET_CONFIG
    tiny = _tiny(tmp_path, f"tiny-export-{architecture}", config, seed=5)
    torch_model = load_embedder(_spec(tiny), Settings(device="cpu", precision="fp32"))
    manifest = torch_model.export_onnx(tmp_path / "cache")  # type: ignore[attr-defined]
    assert manifest is not None
    onnx_model = OnnxEmbedder(torch_model.identity, manifest, "fp32")
    photos = [draw_photo(seed, (160 + 7 * seed, 120)) for seed in range(5)]

    torch_images = torch_model.encode_images([torch_model.preprocess(p) for p in photos])
    onnx_images = onnx_model.encode_images([onnx_model.preprocess(p) for p in photos])

    assert _cosines(torch_images, onnx_images).min() >= 0.9999
    assert _cosines(torch_model.encode_texts(TEXTS), onnx_model.encode_texts(TEXTS)).min() >= 0.9999
    assert onnx_model.zero_shot_scoring() == torch_model.zero_shot_scoring()

    one_image = OnnxImageEncoder(manifest, "fp32", prepack=False)  # first run of one: unpacked
    one_text = OnnxTextEncoder(manifest, "fp32", prepack=False)
    singly = [one_image.encode_images([onnx_model.preprocess(p)])[0] for p in photos]
    np.testing.assert_allclose(np.stack(singly), onnx_images, atol=1e-5)
    singly = [one_text.encode_texts([text])[0] for text in TEXTS]
    np.testing.assert_allclose(np.stack(singly), onnx_model.encode_texts(TEXTS), atol=1e-5)


def _onnx_loader(tiny: TinyModel, cache: Path) -> RuntimeLoader:
    settings = Settings(device="cpu", precision="fp32", runtime="onnx", cache_dir=cache)
    identity = load_embedder(_spec(tiny), Settings(device="cpu", precision="fp32")).identity
    return RuntimeLoader(_spec(tiny), settings, identity)


def test_a_damaged_export_is_detected_and_rebuilt(tiny_model: TinyModel, tmp_path: Path) -> None:
    loader = _onnx_loader(tiny_model, tmp_path / "cache")
    expected = loader.load().encode_texts(TEXTS)
    graph = export_dir(tmp_path / "cache", loader.identity) / f"{IMAGE_GRAPH}.data"
    data = bytearray(graph.read_bytes())
    middle = len(data) // 2
    data[middle : middle + 64] = bytes(64)
    graph.write_bytes(bytes(data))

    assert load_manifest(tmp_path / "cache", loader.identity) is None
    rebuilt = loader.load()

    assert loader.choice is not None and loader.choice.runtime == "onnx"
    assert load_manifest(tmp_path / "cache", loader.identity) is not None
    np.testing.assert_allclose(rebuilt.encode_texts(TEXTS), expected, atol=1e-6)


def test_an_export_of_an_older_format_is_rebuilt(tmp_path: Path) -> None:
    first = _tiny(tmp_path, "tiny-stale", TINY_CONFIG, seed=1)
    loader = _onnx_loader(first, tmp_path / "cache")
    loader.load()
    directory = export_dir(tmp_path / "cache", loader.identity)
    manifest = json.loads((directory / "manifest.json").read_text())
    manifest["format"] = 0
    (directory / "manifest.json").write_text(json.dumps(manifest))

    assert load_manifest(tmp_path / "cache", loader.identity) is None
