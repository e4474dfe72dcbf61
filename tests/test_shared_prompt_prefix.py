"""Texts that start alike (one prompt template's labels) run their shared start once, and every
text still gets exactly what open_clip's own text tower gives it."""

from __future__ import annotations

import pytest

from tests.conftest import TinyModel
from tests.reference import ReferenceModel

BATCHES = {
    "one template": ["a photo of a dog.", "a photo of kids on a beach at sunset.", "a photo of x."],
    "a text that is the whole shared start": ["a photo of", "a photo of a birthday cake."],
    "nothing shared": ["red", "a dog", "kids on a beach"],
    "one text": ["a close-up photo of a cat."],
}


@pytest.mark.parametrize("texts", BATCHES.values(), ids=BATCHES.keys())
def test_a_shared_start_gives_open_clips_text_embeddings(
    tiny_model: TinyModel, texts: list[str]
) -> None:
    import torch

    from searchapp.models.open_clip_text import encode_text_up_to_end

    reference = ReferenceModel(tiny_model)
    tokens = reference.tokenizer(texts)

    with torch.inference_mode():
        ours = encode_text_up_to_end(reference.model, tokens)
        expected = reference.model.encode_text(tokens)

    torch.testing.assert_close(ours, expected, atol=1e-5, rtol=1e-5)


def test_the_shared_start_is_what_the_texts_have_in_common_before_an_end(
    tiny_model: TinyModel,
) -> None:
    from searchapp.models.open_clip_text import _plain_blocks, _shared_prefix

    reference = ReferenceModel(tiny_model)
    tokens = reference.tokenizer(BATCHES["a text that is the whole shared start"])
    ends = tokens.argmax(dim=-1)

    assert _plain_blocks(reference.model)
    assert _shared_prefix(tokens, int(ends.min())) == 4  # start token, "a", "photo", "of"
    assert _shared_prefix(reference.tokenizer(BATCHES["nothing shared"]), 2) == 1
