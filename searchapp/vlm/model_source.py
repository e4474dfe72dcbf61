"""Where a transformers VLM comes from: a local `save_pretrained` folder or a Hugging Face id
already in the cache (or downloadable). Offline users get one clear line at once, not a minute of
retries."""

from __future__ import annotations

from pathlib import Path

from searchapp.errors import VlmModelError

LOCAL_PREFIXES = ("/", "./", "../", "~")


def resolve_model_source(model: str) -> str:
    path = Path(model).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise VlmModelError(
                f"{model} has no config.json: point --vlm-model at a folder made by "
                "save_pretrained (or a downloaded model snapshot)."
            )
        return str(path)
    if model.startswith(LOCAL_PREFIXES) or path.exists() or model.count("/") != 1:
        raise VlmModelError(
            f"No VLM folder at {model}: pass a folder made by save_pretrained or a Hugging Face "
            "id such as HuggingFaceTB/SmolVLM2-256M-Video-Instruct."
        )
    from searchapp.models.weights import _hf_cached, _hf_endpoint, _hf_offline, host_reachable

    if _hf_cached(model, ("config.json",)):
        return model
    if _hf_offline() or not host_reachable(_hf_endpoint()):
        raise VlmModelError(
            f"The VLM {model} is not in the Hugging Face cache and the hub cannot be reached: "
            f"download it on a connected machine (`hf download {model}`), or pass a local folder "
            "with --vlm-model, or use a model server with --vlm-backend openai."
        )
    return model
