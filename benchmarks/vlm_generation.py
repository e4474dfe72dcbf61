"""VLM answers on this machine: time to first token, decode tokens/s and peak memory, through the
same transformers backend `searchapp caption` and `ask` use.

Two models, both randomly initialised (no download; the speed of a model does not depend on its
weights): the test suite's tiny LLaVA, and a SmolVLM2-256M-class model built from the published
configuration of HuggingFaceTB/SmolVLM2-256M-Video-Instruct (SigLIP-B/16-512 tower, pixel shuffle
×4 → 64 tokens per 512-px tile, SmolLM2-135M language model, 49 280-token vocabulary), with its
published image processor (longest edge 2048, split into 512-px tiles + a global view) and with
image splitting off (one tile), the setting to choose on a CPU.

Each (model, image mode, precision) runs in a fresh process so peak RSS is its own; runs are
interleaved and repeated, and the JSON reports medians with the CPU time other processes took.

    python benchmarks/vlm_generation.py [--repeats 3] [--new-tokens 32] [--precisions fp32,bf16]
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _common import ForeignCpu, emit, log, machine_info

SMOLVLM2_256M_TEXT = {
    "vocab_size": 49280,
    "hidden_size": 576,
    "intermediate_size": 1536,
    "num_hidden_layers": 30,
    "num_attention_heads": 9,
    "num_key_value_heads": 3,
    "max_position_embeddings": 8192,
    "rope_theta": 100000.0,
    "rms_norm_eps": 1e-5,
    "hidden_act": "silu",
    "tie_word_embeddings": False,
}
SMOLVLM2_256M_VISION = {
    "hidden_size": 768,
    "intermediate_size": 3072,
    "num_hidden_layers": 12,
    "num_attention_heads": 12,
    "image_size": 512,
    "patch_size": 16,
}
SMOLVLM2_SPECIALS = [
    "<|endoftext|>",
    "<|im_start|>",
    "<end_of_utterance>",
    "<unk>",
    "<image>",
    "<fake_token_around_image>",
    "<global-img>",
]
PHOTO_SIZE = (1024, 768)


def build_smolvlm2_256m(directory: Path, split: bool) -> Path:
    """The published architecture with random weights, and a word-level tokenizer of the
    published vocabulary size (token ids, not words, are what costs time)."""
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import (
        LlamaConfig,
        PreTrainedTokenizerFast,
        SmolVLMConfig,
        SmolVLMForConditionalGeneration,
        SmolVLMImageProcessor,
        SmolVLMProcessor,
        SmolVLMVideoProcessor,
    )
    from transformers.models.smolvlm.configuration_smolvlm import SmolVLMVisionConfig

    from tests.tiny_vlm import SMOLVLM_CHAT_TEMPLATE

    vocab_size = int(SMOLVLM2_256M_TEXT["vocab_size"])
    words = [*SMOLVLM2_SPECIALS, *(f"w{i}" for i in range(vocab_size - len(SMOLVLM2_SPECIALS)))]
    tokenizer = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tokenizer.add_special_tokens(SMOLVLM2_SPECIALS)
    hf_tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        bos_token="<|im_start|>",
        eos_token="<end_of_utterance>",
        pad_token="<|endoftext|>",
        unk_token="<unk>",
        extra_special_tokens={
            "image_token": "<image>",
            "fake_image_token": "<fake_token_around_image>",
            "global_image_token": "<global-img>",
            "end_of_utterance_token": "<end_of_utterance>",
        },
    )
    image_processor = SmolVLMImageProcessor(
        size={"longest_edge": 2048},
        max_image_size={"longest_edge": 512},
        do_image_splitting=split,
        image_mean=[0.5, 0.5, 0.5],
        image_std=[0.5, 0.5, 0.5],
    )
    processor = SmolVLMProcessor(
        image_processor=image_processor,
        tokenizer=hf_tokenizer,
        video_processor=SmolVLMVideoProcessor(),
        image_seq_len=64,
        chat_template=SMOLVLM_CHAT_TEMPLATE,
    )
    config = SmolVLMConfig(
        vision_config=SmolVLMVisionConfig(**SMOLVLM2_256M_VISION),
        text_config=LlamaConfig(**SMOLVLM2_256M_TEXT, bos_token_id=1, eos_token_id=2),
        image_token_id=hf_tokenizer.convert_tokens_to_ids("<image>"),
        scale_factor=4,
    )
    torch.manual_seed(0)
    model = SmolVLMForConditionalGeneration(config)
    model.save_pretrained(directory)
    processor.save_pretrained(directory)
    return directory


def build(kind: str, directory: Path) -> Path:
    if kind == "tiny-llava":
        from tests.tiny_vlm import build_tiny_llava

        return build_tiny_llava(directory)
    return build_smolvlm2_256m(directory, split=kind == "smolvlm2-256m-split")


def _status_mib(field: str) -> float:
    """VmRSS (now) or VmHWM (peak) of this process. VmHWM starts afresh at exec, unlike
    ru_maxrss, which a child inherits from the parent it was forked from."""
    with open("/proc/self/status", encoding="utf-8") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return 0.0


def child(model_dir: str, precision: str, new_tokens: int, threads: int) -> dict[str, Any]:
    """One measurement in this process: load, then one answer with per-token timestamps."""
    import torch
    from PIL import Image
    from transformers.generation.streamers import BaseStreamer

    from searchapp.config import Settings
    from searchapp.vlm import Prompt, load_vlm
    from searchapp.vlm.transformers_backend import TransformersVlm

    class Clock(BaseStreamer):  # type: ignore[misc]
        def __init__(self) -> None:
            self.times: list[float] = []
            self.prompt_seen = False

        def put(self, value: Any) -> None:
            if not self.prompt_seen:
                self.prompt_seen = True
                return
            self.times.append(time.perf_counter())

        def end(self) -> None:
            pass

    if threads:
        torch.set_num_threads(threads)
    rss_before = _status_mib("VmRSS")
    settings = Settings(
        data_dir=Path(tempfile.mkdtemp()),
        vlm_model=model_dir,
        vlm_device="cpu",
        vlm_precision=precision,  # type: ignore[arg-type]
    )
    vlm = load_vlm(settings)
    assert isinstance(vlm, TransformersVlm)
    photo = Image.new("RGB", PHOTO_SIZE, (180, 120, 60))
    photo.paste((30, 60, 200), (0, 0, PHOTO_SIZE[0] // 2, PHOTO_SIZE[1] // 3))
    prompt = Prompt((photo,), "Describe this photo in one sentence.")
    started = time.perf_counter()
    with vlm.resource.use() as loaded:
        load_s = time.perf_counter() - started
        loaded.model.generation_config.min_new_tokens = new_tokens
        parameters = sum(p.numel() for p in loaded.model.parameters())
        clock = Clock()
        with ForeignCpu() as contention:
            asked = time.perf_counter()
            inputs = vlm.inputs(loaded, [prompt])
            vlm.generate_ids(loaded, inputs, new_tokens, streamer=clock)
        prompt_tokens = int(inputs["input_ids"].shape[1])
    first = clock.times[0] - asked
    decode_s = clock.times[-1] - clock.times[0]
    return {
        "parameters_millions": round(parameters / 1e6, 1),
        "prompt_tokens": prompt_tokens,
        "new_tokens": len(clock.times),
        "load_s": round(load_s, 3),
        "time_to_first_token_s": round(first, 3),
        "decode_tokens_per_s": round((len(clock.times) - 1) / decode_s, 2) if decode_s else None,
        "peak_rss_mib": round(_status_mib("VmHWM"), 1),
        "rss_before_load_mib": round(rss_before, 1),
        "foreign_cpu_s": round(contention.foreign_cpu_s, 2),
        "wall_s": round(contention.wall_s, 3),
        "torch_threads": torch.get_num_threads(),
    }


def median_of(runs: list[dict[str, Any]]) -> dict[str, Any]:
    keys = ["load_s", "time_to_first_token_s", "decode_tokens_per_s", "peak_rss_mib", "wall_s"]
    summary: dict[str, Any] = {
        key: runs[0][key] for key in ("parameters_millions", "prompt_tokens", "new_tokens")
    }
    for key in keys:
        values = [r[key] for r in runs if r[key] is not None]
        summary[f"{key}_median"] = round(statistics.median(values), 3) if values else None
    summary["foreign_cpu_s"] = [r["foreign_cpu_s"] for r in runs]
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--new-tokens", type=int, default=32)
    parser.add_argument("--precisions", default="fp32,bf16")
    parser.add_argument(
        "--models", default="tiny-llava,smolvlm2-256m-single-tile,smolvlm2-256m-split"
    )
    parser.add_argument("--threads", default="0", help="torch threads to compare, e.g. 1,2")
    parser.add_argument("--child", nargs=4, metavar=("MODEL_DIR", "PRECISION", "TOKENS", "THREADS"))
    args = parser.parse_args()
    if args.child:
        model_dir, precision, tokens, threads = args.child
        print(json.dumps(child(model_dir, precision, int(tokens), int(threads))))
        return
    kinds = args.models.split(",")
    precisions = args.precisions.split(",")
    thread_counts = args.threads.split(",")
    runs: dict[str, list[dict[str, Any]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        dirs = {kind: build(kind, Path(tmp) / kind) for kind in kinds}
        for repeat in range(args.repeats):
            for kind, precision, threads in itertools.product(kinds, precisions, thread_counts):
                log(f"run {repeat + 1}/{args.repeats}: {kind} {precision} threads={threads}")
                out = subprocess.run(
                    [
                        sys.executable,
                        __file__,
                        "--child",
                        str(dirs[kind]),
                        precision,
                        str(args.new_tokens),
                        threads,
                    ],
                    capture_output=True,
                    text=True,
                    check=True,
                    env={"HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin"},
                )
                result = json.loads(out.stdout.strip().splitlines()[-1])
                runs.setdefault(f"{kind}/{precision}/threads={threads}", []).append(result)
    emit(
        {
            "benchmark": "vlm_generation",
            "command": " ".join(["python", "benchmarks/vlm_generation.py", *sys.argv[1:]]),
            "machine": machine_info(with_torch=True),
            "photo_size": list(PHOTO_SIZE),
            "new_tokens": args.new_tokens,
            "results": {key: median_of(value) for key, value in runs.items()},
            "runs": runs,
        }
    )


if __name__ == "__main__":
    main()
