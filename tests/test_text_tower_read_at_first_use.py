"""The text tower's weights stay in the memory-mapped checkpoint until a text is encoded: photos
embed without them, texts then come out as from a model loaded whole, and a text forward that
skipped them fails instead of computing with empty weights."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from searchapp.config import Settings
from searchapp.errors import SearchAppError
from searchapp.models.base import ModelSpec
from searchapp.models.deferred_weights import is_text_side
from searchapp.models.open_clip_text import encode_text_up_to_end
from searchapp.models.registry import load_embedder
from tests.conftest import TinyModel

TEXTS = ["a photo of a dog", "a red car at night", "kids on a beach at sunset"]


def _load(tiny: TinyModel, precision: str, checkpoint: Path | None = None) -> Any:
    spec = ModelSpec(tiny.name, str(checkpoint or tiny.checkpoint), tiny.config_path)
    return load_embedder(spec, Settings(device="cpu", precision=precision))


def _reference(tiny: TinyModel, precision: str) -> Any:
    import open_clip
    import torch

    model, _, preprocess = open_clip.create_model_and_transforms(
        tiny.name, pretrained=str(tiny.checkpoint)
    )
    dtype = torch.bfloat16 if precision == "bf16" else torch.float32
    return model.to(dtype).eval(), preprocess, dtype


def _normalised(features: Any) -> Any:
    import torch

    return torch.nn.functional.normalize(features.float(), dim=-1).numpy()


def _waiting(embedder: Any) -> list[str]:
    return [name for name, t in embedder._model.state_dict().items() if t.numel() == 0]


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_photos_embed_before_the_text_tower_is_read(tiny_model: TinyModel, precision: str) -> None:
    import torch
    from PIL import Image

    embedder = _load(tiny_model, precision)
    reference, preprocess, dtype = _reference(tiny_model, precision)
    photos = [Image.new("RGB", (40, 30), (30 * i, 90, 200 - 40 * i)) for i in range(4)]

    vectors = embedder.encode_images([embedder.preprocess(photo) for photo in photos])

    waiting = _waiting(embedder)
    assert waiting and all(is_text_side(name) for name in waiting)
    with torch.inference_mode():
        pixels = torch.stack([preprocess(photo) for photo in photos]).to(dtype)
        expected = _normalised(reference.encode_image(pixels))
    np.testing.assert_allclose(vectors, expected, atol=1e-6)


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_texts_equal_those_of_a_model_loaded_whole(tiny_model: TinyModel, precision: str) -> None:
    import open_clip
    import torch

    embedder = _load(tiny_model, precision)
    reference, _, _ = _reference(tiny_model, precision)

    vectors = embedder.encode_texts(TEXTS)

    assert _waiting(embedder) == []
    tokens = open_clip.get_tokenizer(tiny_model.name)(TEXTS)
    with torch.inference_mode():
        expected = _normalised(encode_text_up_to_end(reference, tokens))
    np.testing.assert_allclose(vectors, expected, atol=1e-6)


def test_a_text_forward_without_the_text_weights_fails(tiny_model: TinyModel) -> None:
    import open_clip
    import torch

    embedder = _load(tiny_model, "bf16")
    tokens = open_clip.get_tokenizer(tiny_model.name)(TEXTS)

    with pytest.raises(RuntimeError), torch.inference_mode():
        embedder._model.encode_text(tokens)


def test_a_checkpoint_without_a_text_weight_is_still_refused(
    tiny_model: TinyModel, tmp_path: Path
) -> None:
    import torch

    state = torch.load(tiny_model.checkpoint, weights_only=True)
    del state["token_embedding.weight"]
    damaged = tmp_path / "missing-text-weight.pt"
    torch.save(state, damaged)

    with pytest.raises(SearchAppError, match=r"Could not load .*token_embedding\.weight"):
        _load(tiny_model, "bf16", damaged)
