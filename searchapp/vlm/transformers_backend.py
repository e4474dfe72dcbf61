"""Local vision-language models through Hugging Face transformers' generic path:
`AutoModelForImageTextToText` + `AutoProcessor` + the processor's chat template. That covers
LLaVA-1.5/NeXT/OneVision, BLIP-2, Qwen2-VL/Qwen2.5-VL, SmolVLM2, Idefics3 and the like.
torch and transformers are imported only here."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from searchapp.errors import SearchAppError, VlmError, VlmModelError, VlmOutOfMemoryError
from searchapp.vlm.base import Prompt, VlmSpec
from searchapp.vlm.lifecycle import LazyResource
from searchapp.vlm.model_source import resolve_model_source

if TYPE_CHECKING:
    import torch

    from searchapp.config import Settings

log = logging.getLogger(__name__)
OOM_MARKERS = ("out of memory", "can't allocate memory", "not enough memory")


@dataclass
class LoadedVlm:
    model: Any
    processor: Any
    device: str
    dtype: torch.dtype


def is_out_of_memory(exc: BaseException) -> bool:
    import torch

    if isinstance(exc, (MemoryError, torch.OutOfMemoryError)):
        return True
    return isinstance(exc, RuntimeError) and any(m in str(exc).lower() for m in OOM_MARKERS)


def messages_of(prompt: Prompt) -> list[dict[str, Any]]:
    """Chat messages in the processor's format; the photos go with the first user turn."""
    messages: list[dict[str, Any]] = []
    images_placed = False
    for turn in prompt.turns():
        content: list[dict[str, Any]] = []
        if turn.role == "user" and not images_placed:
            content.extend({"type": "image"} for _ in prompt.images)
            images_placed = True
        content.append({"type": "text", "text": turn.text})
        messages.append({"role": turn.role, "content": content})
    return messages


class _StopRequested:
    """A stopping criterion that ends generation when the reader of a stream goes away."""

    def __init__(self) -> None:
        self.event = threading.Event()

    def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
        import torch

        return torch.full((input_ids.shape[0],), self.event.is_set(), dtype=torch.bool)


class TransformersVlm:
    def __init__(self, spec: VlmSpec, settings: Settings) -> None:
        self.spec = spec
        self.settings = settings
        self.resource: LazyResource[LoadedVlm] = LazyResource(
            self._load, self._release, settings.vlm_idle_unload_seconds, name=spec.model
        )

    # -- loading ----------------------------------------------------------------------------

    def _load(self) -> LoadedVlm:
        from searchapp.models.precision import choose_device, choose_precision, torch_dtype

        source = resolve_model_source(self.spec.model)
        config = self._vision_config(source)
        device = choose_device(self.settings.vlm_device)
        dtype = torch_dtype(choose_precision(device, self.settings.vlm_precision))
        try:
            processor = self._processor(source)
            model = self._model(source, device, dtype, config)
        except SearchAppError:
            raise
        except Exception as exc:
            if is_out_of_memory(exc):
                raise VlmOutOfMemoryError(self._oom_message(device)) from None
            raise VlmModelError(f"Cannot load the VLM {self.spec.model}: {exc}") from None
        log.info("loaded VLM %s on %s (%s)", self.spec.model, device, dtype)
        return LoadedVlm(model, processor, device, dtype)

    def _vision_config(self, source: str) -> Any:
        from transformers import AutoConfig
        from transformers.models.auto.modeling_auto import (
            MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES,
        )

        try:
            config = AutoConfig.from_pretrained(source)
        except Exception as exc:
            raise VlmModelError(
                f"{self.spec.model} is not a transformers model folder or id ({exc})."
            ) from None
        if config.model_type not in MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES:
            raise VlmModelError(
                f"{self.spec.model} is a '{config.model_type}' model, not a vision-language "
                "model: choose one that loads with AutoModelForImageTextToText (LLaVA, Qwen2-VL, "
                "SmolVLM2, ...)."
            )
        return config

    def _processor(self, source: str) -> Any:
        from transformers import AutoProcessor

        auto: Any = AutoProcessor
        processor = auto.from_pretrained(source)
        if getattr(processor, "image_processor", None) is None:
            raise VlmModelError(f"{self.spec.model} has no image processor; it cannot read photos.")
        if not getattr(processor, "chat_template", None):
            raise VlmModelError(
                f"{self.spec.model} has no chat template; use an instruction-tuned (chat) model."
            )
        processor.tokenizer.padding_side = "left"
        return processor

    def _model(self, source: str, device: str, dtype: torch.dtype, config: Any) -> Any:
        from transformers import AutoModelForImageTextToText

        kwargs: dict[str, Any] = {"dtype": dtype}
        if self.settings.vlm_load_in_4bit:
            kwargs.update(self._four_bit(device, dtype))
        auto: Any = AutoModelForImageTextToText
        model = auto.from_pretrained(source, config=config, **kwargs)
        if not self.settings.vlm_load_in_4bit:
            model = model.to(device)
        return model.eval()

    @staticmethod
    def _four_bit(device: str, dtype: torch.dtype) -> dict[str, Any]:
        import importlib.util

        if device != "cuda" or importlib.util.find_spec("bitsandbytes") is None:
            raise VlmModelError(
                "4-bit loading (SEARCHAPP_VLM_LOAD_IN_4BIT) needs a CUDA GPU and bitsandbytes "
                "(pip install 'searchapp[gpu]'); on CPU use bf16 or fp32."
            )
        from transformers import BitsAndBytesConfig

        make_config: Any = BitsAndBytesConfig
        quantization = make_config(
            load_in_4bit=True, bnb_4bit_compute_dtype=dtype, bnb_4bit_quant_type="nf4"
        )
        return {"quantization_config": quantization, "device_map": device}

    def _oom_message(self, device: str) -> str:
        hint = "4-bit loading (SEARCHAPP_VLM_LOAD_IN_4BIT=true)" if device == "cuda" else "bf16"
        return (
            f"The VLM {self.spec.model} does not fit in {device} memory: choose a smaller model "
            f"(--vlm-model), try {hint}, or use a model server (--vlm-backend openai)."
        )

    @staticmethod
    def _release(loaded: LoadedVlm) -> None:
        import gc

        device = loaded.device
        del loaded.model
        gc.collect()
        if device == "cuda":
            import torch

            torch.cuda.empty_cache()

    def unload(self) -> None:
        self.resource.unload()

    # -- generation -------------------------------------------------------------------------

    def inputs(self, loaded: LoadedVlm, prompts: Sequence[Prompt]) -> Any:
        processor = loaded.processor
        texts = [
            processor.apply_chat_template(messages_of(p), add_generation_prompt=True)
            for p in prompts
        ]
        images = [list(p.images) for p in prompts]
        try:
            batch = processor(
                text=texts,
                images=images if any(images) else None,
                return_tensors="pt",
                padding=True,
            )
        except (ValueError, TypeError) as exc:
            raise VlmError(f"{self.spec.model} cannot take this request: {exc}") from None
        return batch.to(loaded.device).to(loaded.dtype)

    def generate_ids(
        self,
        loaded: LoadedVlm,
        inputs: Any,
        max_new_tokens: int,
        streamer: Any = None,
        stop: _StopRequested | None = None,
    ) -> Any:
        """Greedy decoding; returns only the new token ids, one row per prompt."""
        import torch
        from transformers import StoppingCriteriaList

        tokenizer = loaded.processor.tokenizer
        pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else None
        criteria = StoppingCriteriaList([stop]) if stop is not None else None
        try:
            with torch.inference_mode():
                out = loaded.model.generate(
                    **inputs,
                    max_new_tokens=max_new_tokens,
                    do_sample=False,
                    pad_token_id=pad,
                    streamer=streamer,
                    stopping_criteria=criteria,
                )
        except Exception as exc:
            if is_out_of_memory(exc):
                raise VlmOutOfMemoryError(self._oom_message(loaded.device)) from None
            raise
        return out[:, inputs["input_ids"].shape[1] :]

    def answer_batch(self, prompts: Sequence[Prompt], max_new_tokens: int) -> list[str]:
        if not prompts:
            return []
        with self.resource.use() as loaded:
            new_ids = self.generate_ids(loaded, self.inputs(loaded, prompts), max_new_tokens)
            texts = loaded.processor.batch_decode(new_ids, skip_special_tokens=True)
        return [str(text).strip() for text in texts]

    def answer(self, prompt: Prompt, max_new_tokens: int) -> str:
        return self.answer_batch([prompt], max_new_tokens)[0]

    def stream(self, prompt: Prompt, max_new_tokens: int) -> Iterator[str]:
        from transformers import TextIteratorStreamer

        with self.resource.use() as loaded:
            inputs = self.inputs(loaded, [prompt])
            streamer: Any = TextIteratorStreamer(
                loaded.processor.tokenizer,
                skip_prompt=True,
                skip_special_tokens=True,
                timeout=self.settings.vlm_timeout_seconds,
            )
            stop = _StopRequested()
            failure: list[BaseException] = []

            def run() -> None:
                try:
                    self.generate_ids(loaded, inputs, max_new_tokens, streamer, stop)
                except BaseException as exc:
                    failure.append(exc)
                    streamer.end()

            worker = threading.Thread(target=run, name="vlm-generate", daemon=True)
            worker.start()
            try:
                for piece in streamer:
                    if piece:
                        yield piece
            finally:
                stop.event.set()
                worker.join()
            if failure:
                raise failure[0]
