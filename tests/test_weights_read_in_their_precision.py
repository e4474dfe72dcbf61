"""A checkpoint is read straight into the precision the model runs in: the weights equal those of
an fp32 load cast afterwards, and a model whose export exists is never built in fp32 first."""

from __future__ import annotations

from pathlib import Path

import pytest

from searchapp.config import Settings
from searchapp.models.base import ModelSpec
from searchapp.models.registry import load_embedder
from searchapp.models.runtime import RuntimeLoader
from tests.conftest import TinyModel


def _spec(tiny: TinyModel) -> ModelSpec:
    return ModelSpec(tiny.name, str(tiny.checkpoint), tiny.config_path)


def test_a_checkpoint_read_into_bf16_equals_fp32_weights_cast_afterwards(
    tiny_model: TinyModel,
) -> None:
    import open_clip
    import torch
    from open_clip import factory

    original = factory.load_checkpoint
    embedder = load_embedder(_spec(tiny_model), Settings(device="cpu", precision="bf16"))
    reference, _, _ = open_clip.create_model_and_transforms(
        tiny_model.name, pretrained=str(tiny_model.checkpoint)
    )
    expected = reference.to(torch.bfloat16).state_dict()

    loaded = embedder._model.state_dict()  # type: ignore[attr-defined]
    assert factory.load_checkpoint is original  # open_clip is left as it was
    assert loaded.keys() == expected.keys()
    for name, tensor in expected.items():
        assert loaded[name].dtype == tensor.dtype, name
        assert torch.equal(loaded[name], tensor), name


def test_a_model_with_an_export_is_loaded_in_bf16_without_an_fp32_copy(
    tiny_model: TinyModel, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = Settings(cache_dir=tmp_path / "cache", runtime="torch", precision="bf16")
    spec = _spec(tiny_model)
    identity = load_embedder(spec, settings.model_copy(update={"precision": "fp32"})).identity
    requested: list[str] = []
    torch_load = RuntimeLoader._torch

    def recording(loader: RuntimeLoader, precision: str) -> object:
        requested.append(precision)
        return torch_load(loader, precision)

    monkeypatch.setattr(RuntimeLoader, "_torch", recording)

    first = RuntimeLoader(spec, settings, identity)
    first.load()  # no export yet: read in fp32, exported, then cast
    second = RuntimeLoader(spec, settings, identity)
    embedder = second.load()

    assert requested == ["fp32", "bf16"]
    assert embedder.precision == "bf16"
    assert second.choice is not None and second.choice.precision == "bf16"
