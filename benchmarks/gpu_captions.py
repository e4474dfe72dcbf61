"""The GPU check's captioning part (see gpu_check.py): generation speed of a LLaVA-1.5-7B-class
model (CLIP ViT-L/14 at 336 px, 576 image tokens, a Llama-7B language model) with random
weights, in fp16, and in 4-bit (nf4) through the app's own option where bitsandbytes works.

The model is built from its configuration straight on the device (no hub, no weights), with
the offline tokenizer of the test suite's tiny VLMs (tests/tiny_vlm.py), so its vocabulary is
that tokenizer's few hundred tokens instead of 32,064 (2% fewer weights: the output layer).
End of text is switched off, so random weights always produce every token asked for.

- `fp16` (fp32 in a dry run): the architecture alone, `generate` on one image and a 32-token
  prompt: time to first token (one new token: image encoder, prefill, one step; median of 3)
  and the decoding rate over 128 new tokens.
- `app_fp16`, `app_int4`: the same weights saved with a LLaVA processor and chat template, then
  loaded and asked for a caption through searchapp.vlm (TransformersVlm.stream, as the app
  captions a photo): load seconds, time to the first streamed text, tokens/s. `app_int4` is
  SEARCHAPP_VLM_LOAD_IN_4BIT; where it cannot load (no bitsandbytes, no CUDA) the app's own
  message is kept as the reason it was skipped.

Skipped, with a line saying so, while the app has no vision-language package (searchapp/vlm);
`--captions-without-vlm` measures the architecture anyway. A dry run uses a tiny LLaVA on CPU.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from _common import ResultFile, log

ROOT = Path(__file__).resolve().parent.parent
VLM_PACKAGE = ROOT / "searchapp" / "vlm"
PROMPT_TOKENS = 32
CAPTION_QUESTION = "Describe this photo in one sentence."
LLAVA_7B = {
    "name": "LLaVA-1.5-7B class",
    "vision": {
        "hidden_size": 1024,
        "intermediate_size": 4096,
        "num_hidden_layers": 24,
        "num_attention_heads": 16,
        "image_size": 336,
        "patch_size": 14,
        "projection_dim": 768,
    },
    "text": {
        "hidden_size": 4096,
        "intermediate_size": 11008,
        "num_hidden_layers": 32,
        "num_attention_heads": 32,
        "num_key_value_heads": 32,
        "max_position_embeddings": 4096,
    },
    "new_tokens": 128,
}
TINY_LLAVA = {
    "name": "tiny LLaVA (dry run)",
    "vision": {
        "hidden_size": 32,
        "intermediate_size": 64,
        "num_hidden_layers": 2,
        "num_attention_heads": 2,
        "image_size": 28,
        "patch_size": 14,
        "projection_dim": 32,
    },
    "text": {
        "hidden_size": 32,
        "intermediate_size": 64,
        "num_hidden_layers": 2,
        "num_attention_heads": 2,
        "num_key_value_heads": 2,
        "max_position_embeddings": 1024,
    },
    "new_tokens": 8,
}


def llava_processor(shape: dict[str, Any]) -> Any:
    """A LLaVA-1.5 processor: the offline BPE tokenizer, CLIP preprocessing at the tower's size."""
    sys.path.insert(0, str(ROOT))
    from transformers import CLIPImageProcessor, LlavaProcessor

    from tests.tiny_vlm import LLAVA_CHAT_TEMPLATE, trained_tokenizer

    tokenizer = trained_tokenizer(
        ["<pad>", "<s>", "</s>", "<unk>", "<image>"],
        bos_token="<s>",
        eos_token="</s>",
        pad_token="<pad>",
        unk_token="<unk>",
    )
    side = shape["vision"]["image_size"]
    return LlavaProcessor(
        image_processor=CLIPImageProcessor(
            size={"shortest_edge": side}, crop_size={"height": side, "width": side}
        ),
        tokenizer=tokenizer,
        patch_size=shape["vision"]["patch_size"],
        vision_feature_select_strategy="default",
        num_additional_image_tokens=1,
        chat_template=LLAVA_CHAT_TEMPLATE,
    )


def llava_config(shape: dict[str, Any], tokenizer: Any) -> Any:
    from transformers import CLIPVisionConfig, LlamaConfig, LlavaConfig

    text = LlamaConfig(
        **shape["text"], vocab_size=len(tokenizer), bos_token_id=1, eos_token_id=None
    )
    return LlavaConfig(
        vision_config=CLIPVisionConfig(**shape["vision"]),
        text_config=text,
        image_token_index=tokenizer.convert_tokens_to_ids("<image>"),
        vision_feature_layer=-2,
        vision_feature_select_strategy="default",
    )


def sample_inputs(config: Any, device: str, dtype: Any) -> dict[str, Any]:
    """One image and a prompt: BOS, the image's patch tokens, then text tokens."""
    import torch

    vision = config.vision_config
    patches = (vision.image_size // vision.patch_size) ** 2
    generator = torch.Generator().manual_seed(0)
    vocab = config.text_config.vocab_size
    text = torch.randint(5, vocab, (PROMPT_TOKENS,), generator=generator)
    image = torch.full((patches,), config.image_token_index)
    ids = torch.cat([torch.tensor([1]), image, text]).unsqueeze(0)
    pixels = torch.randn((1, 3, vision.image_size, vision.image_size), generator=generator)
    return {
        "input_ids": ids.to(device),
        "attention_mask": torch.ones_like(ids).to(device),
        "pixel_values": pixels.to(device=device, dtype=dtype),
    }


def generation_speed(model: Any, inputs: dict[str, Any], new_tokens: int) -> dict[str, Any]:
    import torch

    on_cuda = inputs["input_ids"].is_cuda

    def generate(tokens: int) -> float:
        started = time.perf_counter()
        with torch.inference_mode():
            out = model.generate(**inputs, max_new_tokens=tokens, do_sample=False)
        if on_cuda:
            torch.cuda.synchronize()
        assert out.shape[1] == inputs["input_ids"].shape[1] + tokens, out.shape
        return time.perf_counter() - started

    generate(2)  # warm-up: kernels, caches
    first = statistics.median(generate(1) for _ in range(3))
    whole = generate(new_tokens)
    return {
        "prompt_tokens": int(inputs["input_ids"].shape[1]),
        "new_tokens": new_tokens,
        "time_to_first_token_s": round(first, 4),
        "generate_s": round(whole, 3),
        "tokens_per_s": round(new_tokens / whole, 1),
        # None where the run is too short for the difference to mean anything (toy models)
        "decode_tokens_per_s": (
            round((new_tokens - 1) / (whole - first), 1) if whole > 2 * first else None
        ),
    }


def through_the_app(
    folder: Path, args: argparse.Namespace, new_tokens: int, **options: Any
) -> dict[str, Any]:
    """Caption one photo through searchapp.vlm as the app does: load, then a streamed answer."""
    import numpy as np
    from synthetic_library import photo_pixels

    from searchapp.config import Settings
    from searchapp.errors import VlmModelError
    from searchapp.vlm.base import Prompt
    from searchapp.vlm.registry import load_vlm

    settings = Settings(
        data_dir=args.work_dir / "vlm-data",
        vlm_backend="transformers",
        vlm_model=str(folder),
        vlm_device=args.device,
        vlm_precision="fp16" if args.device == "cuda" else "fp32",
        **options,
    )
    vlm = load_vlm(settings)
    prompt = Prompt(
        images=(photo_pixels(np.random.default_rng(0), 640, 480),), question=CAPTION_QUESTION
    )
    started = time.perf_counter()
    try:
        vlm.answer(prompt, 2)  # loads the model (and warms it up)
    except VlmModelError as exc:
        return {"skipped": str(exc)}
    result: dict[str, Any] = {"load_and_first_answer_s": round(time.perf_counter() - started, 1)}
    started = time.perf_counter()
    first: float | None = None
    pieces = 0
    for _ in vlm.stream(prompt, new_tokens):
        pieces += 1
        first = first if first is not None else time.perf_counter() - started
    whole = time.perf_counter() - started
    vlm.unload()
    result.update(
        {
            "new_tokens": new_tokens,
            "time_to_first_text_s": round(first, 4) if first is not None else None,
            "generate_s": round(whole, 3),
            "tokens_per_s": round(new_tokens / whole, 1),
            "streamed_pieces": pieces,
        }
    )
    return result


def measure(args: argparse.Namespace, result: ResultFile) -> None:
    if not VLM_PACKAGE.is_dir() and not args.captions_without_vlm:
        reason = "searchapp/vlm does not exist yet (the vision-language issue has not landed)"
        log(f"captions: skipped: {reason}")
        result.set("skipped", reason)
        return
    import torch
    from transformers import LlavaForConditionalGeneration

    shape = TINY_LLAVA if args.dry_run else LLAVA_7B
    device = args.device
    precision, dtype = ("fp16", torch.float16) if device == "cuda" else ("fp32", torch.float32)
    processor = llava_processor(shape)
    config = llava_config(shape, processor.tokenizer)
    started = time.perf_counter()
    torch.manual_seed(0)
    with torch.device(device):
        model = LlavaForConditionalGeneration._from_config(config, dtype=dtype).eval()
    model.generation_config.eos_token_id = None
    model.generation_config.pad_token_id = 0
    params = sum(p.numel() for p in model.parameters())
    result.update({"architecture": shape["name"], "params_b": round(params / 1e9, 3)})
    result.update({"device": device, "build_s": round(time.perf_counter() - started, 1)})
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    speed = generation_speed(model, sample_inputs(config, device, dtype), shape["new_tokens"])
    if device == "cuda":
        speed["gpu_memory_peak_mib"] = round(torch.cuda.max_memory_allocated() / 2**20)
    result.set(precision, speed)
    log(f"captions: {precision} {speed}")
    if not VLM_PACKAGE.is_dir():
        return
    folder = args.work_dir / "llava-random"
    started = time.perf_counter()
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    result.set("save_s", round(time.perf_counter() - started, 1))
    del model
    if device == "cuda":
        torch.cuda.empty_cache()
    result.set(f"app_{precision}", through_the_app(folder, args, shape["new_tokens"]))
    log(f"captions: app {precision} {result.data[f'app_{precision}']}")
    result.set(
        "app_int4", through_the_app(folder, args, shape["new_tokens"], vlm_load_in_4bit=True)
    )
    log(f"captions: app int4 {result.data['app_int4']}")
