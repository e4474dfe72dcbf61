"""Tiny, randomly initialised vision-language models saved with `save_pretrained`, so tests load
them back through AutoModelForImageTextToText + AutoProcessor exactly as a real model loads.

Sizes follow transformers' own LLaVA tests (image 8 px, patch 2, hidden 32); the tokenizers are
trained here, offline, with the `tokenizers` library. Their answers are nonsense; the plumbing
(processor, chat template, image tokens, generation, streaming) is real."""

from __future__ import annotations

from pathlib import Path
from typing import Any

CORPUS = [
    "a photo of a dog catching a frisbee on the beach",
    "a cat sitting on a red sofa in the living room",
    "what is in this picture? describe the photo in one sentence",
    "is anyone wearing glasses? the sign says open every day",
    "a receipt from a cafe in paris with coffee and bread",
    "snowy mountains at sunset, a lake and a small boat",
] * 20

LLAVA_CHAT_TEMPLATE = (
    "{% for m in messages %}{{ m['role'].upper() }}: "
    "{% for c in m['content'] %}{% if c['type'] == 'image' %}<image>{{ '\\n' }}"
    "{% elif c['type'] == 'text' %}{{ c['text'] }}{% endif %}{% endfor %}{{ '\\n' }}"
    "{% endfor %}{% if add_generation_prompt %}ASSISTANT:{% endif %}"
)
SMOLVLM_CHAT_TEMPLATE = (
    "<|im_start|>{% for m in messages %}{{ m['role'] | capitalize }}:"
    "{% for c in m['content'] %}{% if c['type'] == 'image' %}<image>"
    "{% elif c['type'] == 'text' %} {{ c['text'] }}{% endif %}{% endfor %}"
    "<end_of_utterance>{{ '\\n' }}{% endfor %}{% if add_generation_prompt %}Assistant:{% endif %}"
)


def trained_tokenizer(specials: list[str], vocab_size: int = 400, **tokens: Any) -> Any:
    """A byte-level BPE tokenizer trained on `CORPUS`, wrapped for transformers."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.BPE(unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=specials,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(CORPUS, trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tokenizer, **tokens)


def tiny_llama(vocab_size: int, eos: int) -> Any:
    from transformers import LlamaConfig

    return LlamaConfig(
        vocab_size=vocab_size,
        hidden_size=32,
        intermediate_size=37,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=4,
        max_position_embeddings=1024,
        bos_token_id=1,
        eos_token_id=eos,
        pad_token_id=0,
    )


def save_model(model_class: Any, config: Any, processor: Any, directory: Path) -> Path:
    import torch

    torch.manual_seed(0)
    model = model_class(config)
    model.generation_config.pad_token_id = 0
    model.save_pretrained(directory)
    processor.save_pretrained(directory)
    return directory


def build_tiny_llava(directory: Path) -> Path:
    """LLaVA-1.5 layout: a CLIP vision tower, a projector and a Llama."""
    from transformers import (
        CLIPImageProcessor,
        CLIPVisionConfig,
        LlavaConfig,
        LlavaForConditionalGeneration,
        LlavaProcessor,
    )

    tokenizer = trained_tokenizer(
        ["<pad>", "<s>", "</s>", "<unk>", "<image>"],
        bos_token="<s>",
        eos_token="</s>",
        pad_token="<pad>",
        unk_token="<unk>",
    )
    image_processor = CLIPImageProcessor(
        size={"shortest_edge": 8},
        crop_size={"height": 8, "width": 8},
        do_center_crop=True,
        image_mean=[0.5, 0.5, 0.5],
        image_std=[0.5, 0.5, 0.5],
    )
    processor = LlavaProcessor(
        image_processor=image_processor,
        tokenizer=tokenizer,
        patch_size=2,
        vision_feature_select_strategy="default",
        num_additional_image_tokens=1,
        chat_template=LLAVA_CHAT_TEMPLATE,
    )
    config = LlavaConfig(
        vision_config=CLIPVisionConfig(
            image_size=8,
            patch_size=2,
            hidden_size=32,
            intermediate_size=37,
            num_hidden_layers=2,
            num_attention_heads=4,
            projection_dim=32,
        ),
        text_config=tiny_llama(len(tokenizer), tokenizer.eos_token_id),
        image_token_index=tokenizer.convert_tokens_to_ids("<image>"),
        vision_feature_select_strategy="default",
        vision_feature_layer=-1,
    )
    return save_model(LlavaForConditionalGeneration, config, processor, directory)


def build_tiny_smolvlm(directory: Path) -> Path:
    """SmolVLM2 / Idefics3 layout: a SigLIP-style tower, pixel shuffle, image splitting."""
    from transformers import (
        SmolVLMConfig,
        SmolVLMForConditionalGeneration,
        SmolVLMImageProcessor,
        SmolVLMProcessor,
        SmolVLMVideoProcessor,
    )
    from transformers.models.smolvlm.configuration_smolvlm import SmolVLMVisionConfig

    tokenizer = trained_tokenizer(
        [
            "<pad>",
            "<|im_start|>",
            "<end_of_utterance>",
            "<unk>",
            "<image>",
            "<fake_token_around_image>",
            "<global-img>",
        ],
        bos_token="<|im_start|>",
        eos_token="<end_of_utterance>",
        pad_token="<pad>",
        unk_token="<unk>",
        extra_special_tokens={
            "image_token": "<image>",
            "fake_image_token": "<fake_token_around_image>",
            "global_image_token": "<global-img>",
            "end_of_utterance_token": "<end_of_utterance>",
        },
    )
    image_processor = SmolVLMImageProcessor(
        size={"longest_edge": 16},
        max_image_size={"longest_edge": 8},
        do_image_splitting=True,
        image_mean=[0.5, 0.5, 0.5],
        image_std=[0.5, 0.5, 0.5],
    )
    processor = SmolVLMProcessor(
        image_processor=image_processor,
        tokenizer=tokenizer,
        video_processor=SmolVLMVideoProcessor(),
        image_seq_len=4,
        chat_template=SMOLVLM_CHAT_TEMPLATE,
    )
    config = SmolVLMConfig(
        vision_config=SmolVLMVisionConfig(
            hidden_size=32,
            intermediate_size=37,
            num_hidden_layers=2,
            num_attention_heads=4,
            image_size=8,
            patch_size=2,
        ),
        text_config=tiny_llama(len(tokenizer), tokenizer.eos_token_id),
        image_token_id=tokenizer.convert_tokens_to_ids("<image>"),
        scale_factor=2,
    )
    return save_model(SmolVLMForConditionalGeneration, config, processor, directory)


def build_text_only_model(directory: Path) -> Path:
    """A plain Llama causal LM: a real transformers model that is not a vision model."""
    from transformers import LlamaForCausalLM

    tokenizer = trained_tokenizer(["<pad>", "<s>", "</s>", "<unk>"], eos_token="</s>")
    return save_model(
        LlamaForCausalLM, tiny_llama(len(tokenizer), tokenizer.eos_token_id), tokenizer, directory
    )
