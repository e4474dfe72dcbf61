"""Faster runs of open_clip's causal text transformer that give `model.encode_text`'s result.

With a causal mask and end-of-text pooling, a position sees only the positions before it, so:
- positions after the longest text's end never reach an end token and can be left out;
- the positions a batch's texts share at the start (a prompt template's "a photo of") have the
  same hidden states in every text: they run once, as one text, and each layer's keys and values
  for them are reused by the rest of every text. A vocabulary of 388 labels × 8 templates then
  costs 1.6× less (ViT-B-32 text tower, fp32 and bf16 alike, measured side by side on Zen 4).

Models without that structure run `encode_text` as it is. torch is imported only when called."""

from __future__ import annotations

from typing import Any

MIN_SHARED_PREFIX = 2


def _ends(model: Any, tokens: Any) -> Any | None:
    """Each text's end position, or None where the model does not pool at its end token."""
    pool = getattr(model, "text_pool_type", None)
    needed = ("token_embedding", "positional_embedding", "transformer", "ln_final")
    if (
        pool not in ("argmax", "eos")
        or getattr(model, "attn_mask", None) is None
        or not all(hasattr(model, name) for name in needed)
    ):
        return None
    if pool == "argmax":
        return tokens.argmax(dim=-1)
    return (tokens == getattr(model, "text_eos_id", None)).int().argmax(dim=-1)


def _project(model: Any, pooled: Any) -> Any:
    import torch

    projection = model.text_projection
    if projection is None:
        return pooled
    return projection(pooled) if isinstance(projection, torch.nn.Linear) else pooled @ projection


def _embedded(model: Any, tokens: Any) -> Any:
    cast_dtype = model.transformer.get_cast_dtype()
    x = model.token_embedding(tokens).to(cast_dtype)
    return x + model.positional_embedding[: tokens.shape[1]].to(cast_dtype)


def encode_text_up_to_end(model: Any, tokens: Any) -> Any:
    """`model.encode_text(tokens)`, run only over the positions up to the longest text's end
    and, where the texts share a start, with that start run once (see the module)."""
    ends = _ends(model, tokens)
    if ends is None:
        return model.encode_text(tokens)
    length = int(ends.max()) + 1
    shared = _shared_prefix(tokens[:, :length], int(ends.min()))
    if shared >= MIN_SHARED_PREFIX and tokens.shape[0] > 1 and _plain_blocks(model):
        return _project(model, _with_shared_prefix(model, tokens[:, :length], ends, shared))
    if length >= tokens.shape[1]:
        return model.encode_text(tokens)
    short = tokens[:, :length]
    x = model.transformer(_embedded(model, short), attn_mask=model.attn_mask[:length, :length])
    x = model.ln_final(x)
    return _project(model, x[_rows(x), ends])


def _rows(x: Any) -> Any:
    import torch

    return torch.arange(x.shape[0], device=x.device)


def _shared_prefix(tokens: Any, shortest_end: int) -> int:
    """How many leading positions every text has in common, short of the first end token."""
    same = (tokens == tokens[:1]).all(dim=0).long().cumprod(dim=0)
    return min(int(same.sum()), shortest_end)


def _plain_blocks(model: Any) -> bool:
    """Whether the text transformer is open_clip's batch-first stack of standard self-attention
    blocks, whose keys and values `_with_shared_prefix` computes itself."""
    import torch
    from open_clip.transformer import ResidualAttentionBlock

    transformer = model.transformer
    if not getattr(transformer, "batch_first", False):
        return False
    for block in getattr(transformer, "resblocks", ()):
        attn = getattr(block, "attn", None)
        if (
            type(block) is not ResidualAttentionBlock
            or hasattr(block, "ln_1_kv")
            or not isinstance(attn, torch.nn.MultiheadAttention)
            or not attn.batch_first
            or not attn._qkv_same_embed_dim
            or attn.in_proj_bias is None
            or attn.bias_k is not None
            or attn.add_zero_attn
        ):
            return False
    return len(getattr(transformer, "resblocks", ())) > 0


def _heads(x: Any, heads: int) -> Any:
    rows, length, width = x.shape
    return x.view(rows, length, heads, width // heads).transpose(1, 2)


def _with_shared_prefix(model: Any, tokens: Any, ends: Any, shared: int) -> Any:
    """The pooled, normalised-by-`ln_final` end states, the shared start run once."""
    import torch
    import torch.nn.functional as F

    x = _embedded(model, tokens)
    prefix, rest = x[:1, :shared], x[:, shared:]
    rows, length, width = rest.shape
    visible = torch.ones(length, shared + length, dtype=torch.bool, device=x.device)
    visible = visible.tril(diagonal=shared)
    prefix_mask = model.attn_mask[:shared, :shared]
    for block in model.transformer.resblocks:
        attn = block.attn
        heads = attn.num_heads
        weight, bias = attn.in_proj_weight, attn.in_proj_bias
        projected: Any = F.linear(block.ln_1(rest), weight, bias)
        q, k, v = projected.split(width, -1)
        prefix_in = block.ln_1(prefix)
        prefix_k = F.linear(prefix_in, weight[width : 2 * width], bias[width : 2 * width])
        prefix_v = F.linear(prefix_in, weight[2 * width :], bias[2 * width :])
        keys = torch.cat([_heads(prefix_k, heads).expand(rows, -1, -1, -1), _heads(k, heads)], 2)
        values = torch.cat([_heads(prefix_v, heads).expand(rows, -1, -1, -1), _heads(v, heads)], 2)
        attended = F.scaled_dot_product_attention(_heads(q, heads), keys, values, visible)
        attended = attended.transpose(1, 2).reshape(rows, length, width)
        rest = rest + block.ls_1(attn.out_proj(attended))
        rest = rest + block.ls_2(block.mlp(block.ln_2(rest)))
        prefix = block(prefix, attn_mask=prefix_mask)
    return model.ln_final(rest)[_rows(rest), ends - shared]
