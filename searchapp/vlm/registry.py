"""A registry of VLM backends chosen by name (`--vlm-backend`, `SEARCHAPP_VLM_BACKEND`), so tests
and plugins add backends the way users pick them."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from searchapp.errors import VlmModelError
from searchapp.vlm.base import VlmSpec

if TYPE_CHECKING:
    from searchapp.config import Settings
    from searchapp.vlm.base import VisionLanguageModel

VlmFactory = Callable[[VlmSpec, "Settings"], "VisionLanguageModel"]

_BACKENDS: dict[str, VlmFactory] = {}


def _transformers(spec: VlmSpec, settings: Settings) -> VisionLanguageModel:
    from searchapp.vlm.transformers_backend import TransformersVlm

    return TransformersVlm(spec, settings)


def _openai(spec: VlmSpec, settings: Settings) -> VisionLanguageModel:
    from searchapp.vlm.openai_backend import OpenAICompatibleVlm

    return OpenAICompatibleVlm(spec, settings)


BUILTIN: dict[str, VlmFactory] = {"transformers": _transformers, "openai": _openai}


def register_vlm_backend(name: str, factory: VlmFactory) -> None:
    _BACKENDS[name] = factory


def get_vlm_backend(name: str) -> VlmFactory:
    factory = _BACKENDS.get(name) or BUILTIN.get(name)
    if factory is None:
        known = ", ".join(sorted({*_BACKENDS, *BUILTIN}))
        raise VlmModelError(f"Unknown VLM backend '{name}'. Known backends: {known}.")
    return factory


def vlm_spec(settings: Settings) -> VlmSpec:
    """The VLM the settings (environment and `--vlm-*` flags) ask for."""
    key = settings.vlm_key.get_secret_value() if settings.vlm_key is not None else None
    get_vlm_backend(settings.vlm_backend)
    if settings.vlm_backend == "openai" and not settings.vlm_url:
        raise VlmModelError(
            "The openai VLM backend needs the server's base URL: pass --vlm-url "
            "(e.g. http://localhost:11434/v1 for Ollama) or set SEARCHAPP_VLM_URL."
        )
    return VlmSpec(settings.vlm_backend, settings.vlm_model, settings.vlm_url, key)


def load_vlm(settings: Settings, spec: VlmSpec | None = None) -> VisionLanguageModel:
    """The backend object; heavy weights load lazily on the first question."""
    spec = spec or vlm_spec(settings)
    return get_vlm_backend(spec.backend)(spec, settings)
