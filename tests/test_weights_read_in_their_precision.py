"""A checkpoint is read straight into the precision the model runs in: the weights equal those of
an fp32 load cast afterwards (the text tower's once a text is encoded), and a model whose export
exists is never built in fp32 first."""

from __future__ import annotations

from pathlib import Path

import pytest

from searchapp.config import Settings
from searchapp.models.base import ModelSpec
from searchapp.models.deferred_weights import is_text_side
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

    waiting = [
        name
        for name, tensor in embedder._model.state_dict().items()  # type: ignore[attr-defined]
        if tensor.numel() == 0
    ]
    assert waiting and all(is_text_side(name) for name in waiting)
    embedder.encode_texts(["a photo"])
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


def _resident_kib(path: Path) -> int:
    """Resident KiB of this process's mappings of `path`."""
    total, inside = 0, False
    target = str(path.resolve())
    for line in Path("/proc/self/smaps").read_text().splitlines():
        fields = line.split()
        if "-" in fields[0] and not fields[0].endswith(":"):
            inside = len(fields) >= 6 and fields[-1] == target
        elif inside and fields[0] == "Rss:":
            total += int(fields[1])
    return total


@pytest.mark.skipif(not Path("/proc/self/smaps").exists(), reason="needs Linux's /proc")
def test_a_checkpoints_pages_are_handed_back_as_its_modules_are_copied(tmp_path: Path) -> None:
    import torch

    from searchapp.models.checkpoint_loading import PagesReleasedAsCopied

    def layers() -> torch.nn.Sequential:
        return torch.nn.Sequential(*(torch.nn.Linear(1024, 1024) for _ in range(8)))

    source = layers()
    path = tmp_path / "weights.pt"
    torch.save(source.state_dict(), path)
    size_kib = path.stat().st_size // 1024

    def load(release: bool) -> tuple[torch.nn.Module, int]:
        target = layers().to(torch.bfloat16)
        state = torch.load(path, mmap=True, weights_only=True)
        released = PagesReleasedAsCopied(target, str(path)) if release else None
        target.load_state_dict(state)
        if released is not None:
            released.close()
        resident = _resident_kib(path)
        del state
        return target, resident

    kept_model, kept = load(release=False)
    released_model, resident = load(release=True)

    assert kept >= 0.9 * size_kib  # without it the whole file stays resident while loading
    assert resident <= 0.1 * size_kib
    for name, tensor in source.state_dict().items():
        expected = tensor.to(torch.bfloat16)
        assert torch.equal(released_model.state_dict()[name], expected), name
        assert torch.equal(kept_model.state_dict()[name], expected), name
