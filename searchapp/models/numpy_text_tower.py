"""The CLIP text tower in NumPy, so a text query starts without importing torch.

`searchapp search` is a fresh process each time, and `import torch` alone costs 1.5-2 s on a
small machine. For the standard open_clip text transformer (pre-norm residual attention blocks,
causal mask, end-of-text pooling, GELU or QuickGELU), the weights are saved once as float32 arrays;
a query then runs a dozen matrix products over its few tokens. Architectures with anything else
(custom blocks, HF text towers, layer-scale variants we do not model) are refused at export, and
queries keep the TorchScript or full-model path.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from searchapp.models.clip_tokenizer import SUPPORTED_CLEAN, ClipTokenizer, open_clip_bpe_path

WEIGHTS_FILE = "text-tower.npz"
CONFIG_FILE = "text-tower.json"
FORMAT_VERSION = 1
Array = NDArray[np.float32]


def _layer_norm(x: Array, weight: Array, bias: Array, eps: float) -> Array:
    mean = x.mean(axis=-1, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * weight + bias  # type: ignore[no-any-return]


_ERF = np.vectorize(math.erf, otypes=[np.float64])


def _gelu(x: Array, kind: str) -> Array:
    if kind == "quick_gelu":
        return x / (1.0 + np.exp(-1.702 * x))  # type: ignore[no-any-return]
    if kind == "gelu_tanh":
        inner = np.sqrt(2.0 / np.pi) * (x + 0.044715 * x**3)
        return 0.5 * x * (1.0 + np.tanh(inner))  # type: ignore[no-any-return]
    return (0.5 * x * (1.0 + _ERF(x / np.sqrt(2.0)))).astype(np.float32)  # type: ignore[no-any-return]


class NumpyTextTower:
    """`encode_texts` gives the same unit vectors as the model's text tower."""

    def __init__(self, config: dict[str, Any], weights: dict[str, Array], tokenizer: Any) -> None:
        self.config = config
        self._w = weights
        self._tokenizer = tokenizer

    def _block(self, x: Array, i: int, mask: Array) -> Array:
        w, heads, eps = self._w, int(self.config["heads"]), float(self.config["eps"])
        p = f"blocks.{i}."
        length, width = x.shape
        head_width = width // heads
        h = _layer_norm(x, w[p + "ln_1.weight"], w[p + "ln_1.bias"], eps)
        qkv = h @ w[p + "attn.in_proj_weight"].T + w[p + "attn.in_proj_bias"]
        q, k, v = (
            part.reshape(length, heads, head_width).transpose(1, 0, 2)
            for part in np.split(qkv, 3, axis=-1)
        )
        scores = q @ k.transpose(0, 2, 1) / np.float32(math.sqrt(head_width)) + mask
        scores = np.exp(scores - scores.max(axis=-1, keepdims=True))
        scores /= scores.sum(axis=-1, keepdims=True)
        attended = (scores @ v).transpose(1, 0, 2).reshape(length, width)
        attended = attended @ w[p + "attn.out_proj.weight"].T + w[p + "attn.out_proj.bias"]
        x = x + attended * w.get(p + "ls_1", np.float32(1.0))
        h = _layer_norm(x, w[p + "ln_2.weight"], w[p + "ln_2.bias"], eps)
        h = _gelu(h @ w[p + "mlp.c_fc.weight"].T + w[p + "mlp.c_fc.bias"], self.config["act"])
        h = h @ w[p + "mlp.c_proj.weight"].T + w[p + "mlp.c_proj.bias"]
        return x + h * w.get(p + "ls_2", np.float32(1.0))

    def encode_tokens(self, tokens: NDArray[np.int64]) -> Array:
        w, eps = self._w, float(self.config["eps"])
        out = np.zeros((len(tokens), int(self.config["out_dim"])), dtype=np.float32)
        for row, ids in enumerate(tokens):
            end = int(np.argmax(ids))
            ids = ids[: end + 1]
            x = w["token_embedding"][ids] + w["positional_embedding"][: len(ids)]
            mask = np.triu(np.full((len(ids), len(ids)), -np.inf, dtype=np.float32), 1)
            for i in range(int(self.config["layers"])):
                x = self._block(x, i, mask)
            pooled = _layer_norm(x[-1], w["ln_final.weight"], w["ln_final.bias"], eps)
            out[row] = pooled @ w["text_projection"]
        return out / np.linalg.norm(out, axis=1, keepdims=True).clip(min=1e-12)  # type: ignore[no-any-return]

    def encode_texts(self, texts: Sequence[str]) -> Array:
        return self.encode_tokens(self._tokenizer(list(texts)))


def _act_kind(module: Any) -> str | None:
    name = type(module).__name__
    if name == "QuickGELU":
        return "quick_gelu"
    if name == "GELU":
        return "gelu_tanh" if getattr(module, "approximate", "none") == "tanh" else "gelu"
    return None


def extract(model: Any) -> tuple[dict[str, Any], dict[str, Array]] | None:
    """Config and float32 weights of a standard open_clip text tower; None for anything else."""
    import torch

    if (
        getattr(model, "text_pool_type", None) != "argmax"
        or getattr(model, "attn_mask", None) is None
        or not hasattr(model, "transformer")
        or getattr(model, "text_projection", None) is None
        or isinstance(model.text_projection, torch.nn.Module)
    ):
        return None
    blocks = list(model.transformer.resblocks)
    acts = {_act_kind(block.mlp.gelu) for block in blocks}
    if len(acts) != 1 or None in acts:
        return None
    allowed = {"ln_1", "attn", "ls_1", "ln_2", "mlp", "ls_2"}
    weights: dict[str, Any] = {
        "token_embedding": model.token_embedding.weight,
        "positional_embedding": model.positional_embedding,
        "ln_final.weight": model.ln_final.weight,
        "ln_final.bias": model.ln_final.bias,
        "text_projection": model.text_projection,
    }
    eps = float(model.ln_final.eps)
    for i, block in enumerate(blocks):
        if {name for name, _ in block.named_children()} - allowed or not block.attn.batch_first:
            return None
        if float(block.ln_1.eps) != eps or float(block.ln_2.eps) != eps:
            return None
        if set(block.mlp._modules) != {"c_fc", "gelu", "c_proj"}:
            return None
        for name, tensor in block.state_dict().items():
            weights[f"blocks.{i}.{name.replace('.gamma', '')}"] = tensor
    config = {
        "version": FORMAT_VERSION,
        "layers": len(blocks),
        "heads": int(blocks[0].attn.num_heads),
        "eps": eps,
        "act": acts.pop(),
        "out_dim": int(model.text_projection.shape[-1]),
    }
    arrays = {k: v.detach().float().cpu().numpy().astype(np.float32) for k, v in weights.items()}
    return config, arrays


def save(directory: Path, config: dict[str, Any], weights: dict[str, Array]) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    temporary = directory / f".{WEIGHTS_FILE}.{os.getpid()}.tmp.npz"
    np.savez(temporary, **weights)  # type: ignore[arg-type]
    (directory / CONFIG_FILE).write_text(json.dumps(config))
    os.replace(temporary, directory / WEIGHTS_FILE)


def load(directory: Path) -> NumpyTextTower | None:
    """The saved tower with its tokenizer, or None when there is none (or it is damaged)."""
    try:
        config = json.loads((directory / CONFIG_FILE).read_text())
        if config.get("version") != FORMAT_VERSION or config["clean"] not in SUPPORTED_CLEAN:
            return None
        with np.load(directory / WEIGHTS_FILE) as archive:
            weights = {name: archive[name] for name in archive.files}
        bpe = open_clip_bpe_path()
        if bpe is None:
            return None
        tokenizer = ClipTokenizer(bpe, int(config["context_length"]), str(config["clean"]))
    except (OSError, ValueError, KeyError):
        return None
    return NumpyTextTower(config, weights, tokenizer)
