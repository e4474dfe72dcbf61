"""The GPU check's captioning part (see gpu_check.py): generation speed of a LLaVA-1.5-7B-class
model (CLIP ViT-L/14 at 336 px, 576 image tokens, a Llama-7B language model) with random
weights, in fp16, and in 4-bit (bitsandbytes nf4, loaded as the app's transformers backend
loads it) where bitsandbytes is installed.

The model is built from its configuration straight on the device (no hub, no weights), and
asked for a caption of one image with a short prompt: time to first token (`generate` with one
new token: the image encoder, the prefill of ~610 tokens and one step; median of 3) and the
decoding rate (128 new tokens; end of text is switched off so random weights cannot stop it
early). Skipped, with a line saying so, while the app has no vision-language package
(searchapp/vlm); `--captions-without-vlm` measures anyway. A dry run uses a tiny LLaVA on CPU.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import ResultFile, log

VLM_PACKAGE = Path(__file__).resolve().parent.parent / "searchapp" / "vlm"
PROMPT_TOKENS = 32
LLAVA_7B = {
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
        "vocab_size": 32064,
        "max_position_embeddings": 4096,
    },
    "image_token_index": 32000,
    "new_tokens": 128,
}
TINY_LLAVA = {
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
        "vocab_size": 320,
        "max_position_embeddings": 256,
    },
    "image_token_index": 300,
    "new_tokens": 8,
}


def llava_config(shape: dict[str, Any]) -> Any:
    from transformers import CLIPVisionConfig, LlamaConfig, LlavaConfig

    return LlavaConfig(
        vision_config=CLIPVisionConfig(**shape["vision"]),
        text_config=LlamaConfig(**shape["text"]),
        image_token_index=shape["image_token_index"],
        vision_feature_layer=-2,
        vision_feature_select_strategy="default",
    )


def sample_inputs(shape: dict[str, Any], device: str, dtype: Any) -> dict[str, Any]:
    """One image and a prompt: BOS, the image's patch tokens, then text tokens."""
    import torch

    vision = shape["vision"]
    patches = (vision["image_size"] // vision["patch_size"]) ** 2
    generator = torch.Generator().manual_seed(0)
    text = torch.randint(3, shape["image_token_index"], (PROMPT_TOKENS,), generator=generator)
    ids = torch.cat(
        [torch.tensor([1]), torch.full((patches,), shape["image_token_index"]), text]
    ).unsqueeze(0)
    pixels = torch.randn((1, 3, vision["image_size"], vision["image_size"]), generator=generator)
    return {
        "input_ids": ids.to(device),
        "attention_mask": torch.ones_like(ids).to(device),
        "pixel_values": pixels.to(device=device, dtype=dtype),
    }


def generation_speed(model: Any, inputs: dict[str, Any], new_tokens: int) -> dict[str, Any]:
    import torch

    model.generation_config.eos_token_id = None
    model.generation_config.pad_token_id = 0
    on_cuda = inputs["input_ids"].is_cuda

    def generate(tokens: int) -> float:
        started = time.perf_counter()
        with torch.inference_mode():
            out = model.generate(
                **inputs, max_new_tokens=tokens, min_new_tokens=tokens, do_sample=False
            )
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


def four_bit(model: Any, shape: dict[str, Any], work_dir: Path) -> dict[str, Any]:
    """Save the fp16 model and load it back in nf4, as the app's 4-bit option does."""
    import torch
    from transformers import BitsAndBytesConfig, LlavaForConditionalGeneration

    with tempfile.TemporaryDirectory(dir=work_dir) as folder:
        started = time.perf_counter()
        model.save_pretrained(folder)
        quantization = BitsAndBytesConfig(
            load_in_4bit=True, bnb_4bit_compute_dtype=torch.float16, bnb_4bit_quant_type="nf4"
        )
        torch.cuda.reset_peak_memory_stats()
        quantized = LlavaForConditionalGeneration.from_pretrained(
            folder, dtype=torch.float16, quantization_config=quantization, device_map="cuda"
        )
        load_s = round(time.perf_counter() - started, 1)
    result = generation_speed(
        quantized, sample_inputs(shape, "cuda", torch.float16), shape["new_tokens"]
    )
    result["save_and_load_s"] = load_s
    result["gpu_memory_peak_mib"] = round(torch.cuda.max_memory_allocated() / 2**20)
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
    dtype = torch.float16 if device == "cuda" else torch.float32
    started = time.perf_counter()
    torch.manual_seed(0)
    with torch.device(device):
        model = LlavaForConditionalGeneration._from_config(llava_config(shape), dtype=dtype)
    model = model.eval()
    built_s = round(time.perf_counter() - started, 1)
    params = sum(p.numel() for p in model.parameters())
    result.update(
        {"architecture": "LLaVA-1.5-7B class" if shape is LLAVA_7B else "tiny LLaVA (dry run)"}
    )
    result.update({"params_b": round(params / 1e9, 3), "device": device, "build_s": built_s})
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    precision = "fp16" if device == "cuda" else "fp32"
    speed = generation_speed(model, sample_inputs(shape, device, dtype), shape["new_tokens"])
    if device == "cuda":
        speed["gpu_memory_peak_mib"] = round(torch.cuda.max_memory_allocated() / 2**20)
    result.set(precision, speed)
    log(f"captions: {precision} {speed}")
    try:
        import bitsandbytes  # noqa: F401
    except ImportError as exc:
        result.set("int4", {"skipped": f"bitsandbytes is not installed ({exc})"})
        return
    if device != "cuda":
        result.set("int4", {"skipped": "4-bit needs bitsandbytes on CUDA"})
        return
    result.set("int4", four_bit(model, shape, args.work_dir))
