"""Tokenizers that open_clip takes from Hugging Face (SigLIP, SigLIP2: `hf_tokenizer_name`),
found offline: a local tokenizer folder as it is, a hub id from the HF cache's snapshot folder
(no request at all), and otherwise one clear line at once instead of a minute of retries."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from searchapp.errors import WeightsUnavailableError


def tokenizer_source(name: str, model: str) -> str:
    """Where to load the tokenizer `name` from: a folder path, or the hub id when reachable."""
    path = Path(name).expanduser()
    if path.is_dir():
        return str(path)
    from huggingface_hub import snapshot_download

    from searchapp.models.weights import _hf_endpoint, _hf_offline, host_reachable

    try:
        return str(snapshot_download(repo_id=name, local_files_only=True))
    except Exception:
        pass
    if name.startswith(("/", "./", "../", "~")) or name.count("/") != 1:
        raise WeightsUnavailableError(
            f"The tokenizer of {model} is not a folder: {name}. Point `hf_tokenizer_name` in the "
            "model config at a folder holding tokenizer.json (or a Hugging Face id)."
        )
    if _hf_offline() or not host_reachable(_hf_endpoint()):
        raise WeightsUnavailableError(
            f"The tokenizer of {model} ({name}) is not in the Hugging Face cache and the hub "
            f"cannot be reached: run `hf download {name}` on a connected machine, or set "
            "`hf_tokenizer_name` in a --model-config to a local tokenizer folder."
        )
    return name


def open_clip_tokenizer(model_name: str, text_cfg: dict[str, Any], source: str | None) -> Any:
    """open_clip's tokenizer for the model; `source` (from `tokenizer_source`) replaces the
    config's `hf_tokenizer_name` so nothing is looked up online."""
    import open_clip

    if source is None:
        return open_clip.get_tokenizer(model_name)
    from open_clip.tokenizer import HFTokenizer

    return HFTokenizer(
        source,
        context_length=int(text_cfg.get("context_length", 77)),
        tokenizer_mode=text_cfg.get("tokenizer_mode"),
        **dict(text_cfg.get("tokenizer_kwargs", {})),
    )
