"""The transformers backend loads tiny LLaVA and SmolVLM models from disk through the Auto
classes and answers exactly as a direct `generate` call does, whole, streamed and batched."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from searchapp.config import Settings
from searchapp.errors import VlmModelError
from searchapp.vlm import Prompt, Turn, load_vlm
from searchapp.vlm.transformers_backend import TransformersVlm, messages_of

FAMILIES = ["tiny_llava", "tiny_smolvlm"]


def settings_for(model: Path | str, tmp_path: Path, **extra: Any) -> Settings:
    return Settings(
        data_dir=tmp_path / "data",
        vlm_backend="transformers",
        vlm_model=str(model),
        vlm_device="cpu",
        vlm_precision="fp32",
        **extra,
    )


def photo(colour: tuple[int, int, int], size: tuple[int, int] = (40, 30)) -> Image.Image:
    image = Image.new("RGB", size, colour)
    image.paste((255 - colour[0], colour[1], 255 - colour[2]), (0, 0, size[0] // 2, size[1] // 3))
    return image


def reference_answer(model_dir: Path, prompt: Prompt, max_new_tokens: int) -> str:
    """What transformers itself answers: the Auto classes, the chat template, greedy decoding."""
    import torch
    from transformers import AutoModelForImageTextToText, AutoProcessor

    model = AutoModelForImageTextToText.from_pretrained(model_dir, dtype=torch.float32)
    processor = AutoProcessor.from_pretrained(model_dir)
    text = processor.apply_chat_template(messages_of(prompt), add_generation_prompt=True)
    inputs = processor(text=[text], images=[list(prompt.images)], return_tensors="pt")
    out = model.generate(**inputs, max_new_tokens=max_new_tokens, do_sample=False)
    new = out[0, inputs["input_ids"].shape[1] :]
    return str(processor.decode(new, skip_special_tokens=True)).strip()


@pytest.mark.parametrize("family", FAMILIES)
def test_answer_equals_transformers_generate_on_the_same_photo_and_question(
    family: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    model_dir: Path = request.getfixturevalue(family)
    prompt = Prompt((photo((200, 30, 30)),), "Describe this photo in one sentence.")
    vlm = load_vlm(settings_for(model_dir, tmp_path))

    answer = vlm.answer(prompt, max_new_tokens=8)

    assert isinstance(vlm, TransformersVlm)
    assert answer == reference_answer(model_dir, prompt, 8)
    assert answer != ""


@pytest.mark.parametrize("family", FAMILIES)
def test_streamed_pieces_join_to_the_whole_answer(
    family: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    vlm = load_vlm(settings_for(request.getfixturevalue(family), tmp_path))
    prompt = Prompt((photo((20, 160, 90)),), "What is in this picture?")

    pieces = list(vlm.stream(prompt, max_new_tokens=10))

    assert len(pieces) >= 1
    assert "".join(pieces).strip() == vlm.answer(prompt, max_new_tokens=10)


def test_a_follow_up_question_sees_the_earlier_turns(tiny_llava: Path, tmp_path: Path) -> None:
    vlm = load_vlm(settings_for(tiny_llava, tmp_path))
    image = photo((10, 10, 200))
    first = Prompt((image,), "Is anyone wearing glasses?")
    first_answer = vlm.answer(first, max_new_tokens=6)
    follow_up = Prompt(
        (image,),
        "What does the sign say?",
        (Turn("user", first.question), Turn("assistant", first_answer)),
    )

    answer = vlm.answer(follow_up, max_new_tokens=6)

    assert answer == reference_answer(tiny_llava, follow_up, 6)
    text = [m["content"][-1]["text"] for m in messages_of(follow_up)]
    assert text == ["Is anyone wearing glasses?", first_answer, "What does the sign say?"]
    assert [c["type"] for c in messages_of(follow_up)[0]["content"]] == ["image", "text"]


@pytest.mark.parametrize("family", FAMILIES)
def test_a_batch_of_photos_gets_the_answers_each_would_get_alone(
    family: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    vlm = load_vlm(settings_for(request.getfixturevalue(family), tmp_path))
    prompts = [
        Prompt((photo((200, 30, 30)),), "Describe this photo."),
        Prompt((photo((30, 200, 30), (64, 20)),), "What is in this picture? Describe it briefly."),
    ]

    batched = vlm.answer_batch(prompts, max_new_tokens=6)

    assert batched == [vlm.answer(p, max_new_tokens=6) for p in prompts]


def test_one_question_about_several_photos_at_once(tiny_llava: Path, tmp_path: Path) -> None:
    vlm = load_vlm(settings_for(tiny_llava, tmp_path))
    prompt = Prompt((photo((200, 30, 30)), photo((30, 30, 200))), "Which photo shows the beach?")

    assert vlm.answer(prompt, max_new_tokens=6) == reference_answer(tiny_llava, prompt, 6)


def test_the_model_loads_once_for_concurrent_callers_and_again_after_unload(
    tiny_llava: Path, tmp_path: Path
) -> None:
    vlm = load_vlm(settings_for(tiny_llava, tmp_path))
    assert isinstance(vlm, TransformersVlm)
    prompt = Prompt((photo((90, 90, 90)),), "Describe this photo.")
    assert not vlm.resource.loaded

    threads = [threading.Thread(target=vlm.answer, args=(prompt, 3)) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert vlm.resource.loads == 1
    vlm.unload()
    assert not vlm.resource.loaded
    vlm.answer(prompt, 3)

    assert vlm.resource.loads == 2


def test_an_idle_model_is_unloaded_after_the_configured_time(
    tiny_llava: Path, tmp_path: Path
) -> None:
    vlm = load_vlm(settings_for(tiny_llava, tmp_path, vlm_idle_unload_seconds=0.2))
    assert isinstance(vlm, TransformersVlm)
    vlm.answer(Prompt((photo((1, 2, 3)),), "Describe this photo."), 2)
    assert vlm.resource.loaded

    deadline = time.monotonic() + 10
    while vlm.resource.loaded and time.monotonic() < deadline:
        time.sleep(0.05)

    assert not vlm.resource.loaded


def test_bf16_on_cpu_answers(tiny_llava: Path, tmp_path: Path) -> None:
    import torch

    vlm = load_vlm(settings_for(tiny_llava, tmp_path).model_copy(update={"vlm_precision": "bf16"}))
    assert isinstance(vlm, TransformersVlm)

    answer = vlm.answer(Prompt((photo((5, 200, 5)),), "Describe this photo."), 4)

    with vlm.resource.use() as loaded:
        assert loaded.model.dtype == torch.bfloat16
    assert isinstance(answer, str)


def test_a_missing_model_folder_is_one_clear_line(tmp_path: Path) -> None:
    vlm = load_vlm(settings_for(tmp_path / "no-such-model", tmp_path))

    with pytest.raises(VlmModelError, match=r"No VLM folder at .*no-such-model"):
        vlm.answer(Prompt((photo((0, 0, 0)),), "hi"), 2)


def test_a_text_only_model_is_refused_as_not_a_vision_model(tmp_path: Path) -> None:
    from tests.tiny_vlm import build_text_only_model

    model_dir = build_text_only_model(tmp_path / "tiny-llama")
    vlm = load_vlm(settings_for(model_dir, tmp_path))

    with pytest.raises(VlmModelError, match="is a 'llama' model, not a vision-language model"):
        vlm.answer(Prompt((photo((0, 0, 0)),), "hi"), 2)


def test_a_hub_id_that_is_not_cached_offline_says_how_to_get_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    vlm = load_vlm(settings_for("example-org/no-such-vlm", tmp_path))

    with pytest.raises(VlmModelError, match=r"not in the Hugging Face cache.*hf download"):
        vlm.answer(Prompt((photo((0, 0, 0)),), "hi"), 2)
