"""Vision-language models: captions and questions about photos, behind one small protocol."""

from searchapp.vlm.base import Prompt, Turn, VisionLanguageModel, VlmSpec
from searchapp.vlm.registry import get_vlm_backend, load_vlm, register_vlm_backend, vlm_spec

__all__ = [
    "Prompt",
    "Turn",
    "VisionLanguageModel",
    "VlmSpec",
    "get_vlm_backend",
    "load_vlm",
    "register_vlm_backend",
    "vlm_spec",
]
