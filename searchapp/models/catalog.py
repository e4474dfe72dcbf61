"""open_clip's list of architectures and pretrained tags, read without importing torch.

`open_clip/pretrained.py` is plain data plus download helpers; it is loaded on its own, as a
module of a stand-in package, with its optional torch-importing dependencies (safetensors' torch
loader, huggingface_hub) hidden, so `searchapp models` answers in a fraction of a second.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types
from collections.abc import Iterator

STAND_IN = "_searchapp_open_clip_catalog"
HIDDEN = ("safetensors.torch", "huggingface_hub")


def _load_pretrained_module() -> types.ModuleType | None:
    spec = importlib.util.find_spec("open_clip")
    if spec is None or not spec.submodule_search_locations:
        return None
    package = types.ModuleType(STAND_IN)
    package.__path__ = list(spec.submodule_search_locations)
    saved = {name: sys.modules.get(name) for name in (STAND_IN, *HIDDEN)}
    sys.modules[STAND_IN] = package
    for name in HIDDEN:
        if saved[name] is None:
            sys.modules[name] = None  # type: ignore[assignment]
    try:
        return importlib.import_module(f"{STAND_IN}.pretrained")
    except Exception:
        return None
    finally:
        for name, module in saved.items():
            if module is None:
                sys.modules.pop(name, None)


def pretrained_models() -> Iterator[tuple[str, str]]:
    """(architecture, pretrained tag) pairs, as `open_clip.list_pretrained()` gives them."""
    module = _load_pretrained_module()
    if module is None:
        import open_clip

        yield from open_clip.list_pretrained()
        return
    for name, tag in module.list_pretrained():
        yield str(name), str(tag)
