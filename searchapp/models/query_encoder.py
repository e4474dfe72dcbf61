"""A text encoder for queries that starts in a fraction of the time of open_clip.

Importing open_clip pulls in torchvision and timm and costs seconds, on every `searchapp search`.
When a CPU model is loaded, its text tower is traced to TorchScript and saved with the tokenizer's
settings; later queries load that file with torch alone, and open_clip's tokenizer module by path
(it only needs ftfy, regex and numpy). The export is verified against the live model and written
only when tokens and embeddings agree, so a query never gets a different vector.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import logging
import os
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from numpy.typing import NDArray

    from searchapp.models.base import TextEncoder

log = logging.getLogger(__name__)
TEXT_MODULE = "text-encoder.pt"
TOKENIZER_FILE = "tokenizer.json"
CHECK_TEXTS = ("a photo of a dog", "Kids on a beach at sunset!", "ÉTÉ 2024 — café ☕ #42")


def _open_clip_tokenizer_module() -> ModuleType | None:
    spec = importlib.util.find_spec("open_clip")
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        path = Path(location) / "tokenizer.py"
        module_spec = importlib.util.spec_from_file_location("searchapp_clip_tokenizer", path)
        if module_spec is None or module_spec.loader is None:
            continue
        module = importlib.util.module_from_spec(module_spec)
        try:
            module_spec.loader.exec_module(module)
        except Exception:  # an open_clip layout we do not know: use the slow path
            log.debug("open_clip tokenizer not loadable on its own", exc_info=True)
            return None
        return module
    return None


def _standalone_tokenizer(settings: dict[str, Any]) -> Any:
    module = _open_clip_tokenizer_module()
    if module is None:
        return None
    return module.SimpleTokenizer(
        context_length=settings["context_length"], clean=settings.get("clean", "lower")
    )


def _text_tower(model: Any) -> Any:
    """A module whose forward is the model's `encode_text`, normalised, so tracing records
    only the text path."""
    import torch

    class TextTower(torch.nn.Module):
        def __init__(self, clip: Any) -> None:
            super().__init__()
            self.clip = clip

        def forward(self, tokens: torch.Tensor) -> torch.Tensor:
            features = self.clip.encode_text(tokens)
            return torch.nn.functional.normalize(features.float(), dim=-1)

    return TextTower(model)


@contextlib.contextmanager
def _quiet_deprecation() -> Iterator[None]:
    """TorchScript is deprecated in favour of torch.export, but loads far faster; if a future
    torch drops it, loading fails and queries fall back to the model. The tracer's warnings are
    about shape checks it freezes; the export is verified against the model before it is saved
    (traced at batch 3, verified at batch 1 by the tests)."""
    from torch.jit._trace import TracerWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        warnings.simplefilter("ignore", TracerWarning)
        yield


@contextlib.contextmanager
def _without_visual(model: Any) -> Any:
    import torch

    visual = model.visual
    model.visual = torch.nn.Identity()
    try:
        yield model
    finally:
        model.visual = visual


def _agreement_needed(model: Any) -> float:
    """Cosine a saved encoder must reach against the live model: fp32 models must agree to
    rounding; bf16/fp16 ones are compared with a float32 copy's output, so allow their noise."""
    import torch

    dtype = next(model.parameters()).dtype
    return 0.9999 if dtype == torch.float32 else 0.995


def _export_numpy(
    model: Any, tokenizer: Any, encode: Any, tokenizer_settings: dict[str, Any], directory: Path
) -> bool:
    from searchapp.models import numpy_text_tower
    from searchapp.models.clip_tokenizer import SUPPORTED_CLEAN, ClipTokenizer, open_clip_bpe_path

    bpe = open_clip_bpe_path()
    extracted = numpy_text_tower.extract(model)
    if bpe is None or extracted is None or tokenizer_settings["clean"] not in SUPPORTED_CLEAN:
        return False
    config, weights = extracted
    config = {**config, **tokenizer_settings}
    standalone = ClipTokenizer(bpe, config["context_length"], config["clean"])
    if not np.array_equal(standalone(list(CHECK_TEXTS)), tokenizer(list(CHECK_TEXTS)).numpy()):
        return False
    tower = numpy_text_tower.NumpyTextTower(config, weights, standalone)
    agreement = np.sum(tower.encode_texts(CHECK_TEXTS) * encode(list(CHECK_TEXTS)), axis=1)
    if float(np.min(agreement)) < _agreement_needed(model):
        log.info("NumPy text tower disagrees with the model (%s); not saving it", agreement)
        return False
    numpy_text_tower.save(directory, config, weights)
    return True


def export_text_encoder(
    model: Any, tokenizer: Any, encode: Any, tokenizer_settings: dict[str, Any], directory: Path
) -> bool:
    """Save a fast text encoder, verified against `encode(texts)`, the live model's: the NumPy
    tower when the architecture is the standard one, else a TorchScript trace."""
    import torch

    if type(tokenizer).__name__ != "SimpleTokenizer":
        return False
    if _export_numpy(model, tokenizer, encode, tokenizer_settings, directory):
        return True
    standalone = _standalone_tokenizer(tokenizer_settings)
    if standalone is None:
        return False
    tokens = tokenizer(list(CHECK_TEXTS))
    if not torch.equal(tokens, standalone(list(CHECK_TEXTS))):
        return False
    with _without_visual(model), torch.no_grad(), _quiet_deprecation():
        traced = torch.jit.trace(  # type: ignore[no-untyped-call]
            _text_tower(model), tokens, check_trace=False
        )
    expected = encode(list(CHECK_TEXTS))
    with torch.no_grad():
        actual = traced(tokens).numpy()
    if float(np.min(np.sum(expected * actual, axis=1))) < _agreement_needed(model):
        log.info("traced text encoder disagrees with the model; not saving it")
        return False
    directory.mkdir(parents=True, exist_ok=True)
    temporary = directory / f".{TEXT_MODULE}.{os.getpid()}.tmp"
    with _quiet_deprecation():
        torch.jit.save(traced, str(temporary))
    (directory / TOKENIZER_FILE).write_text(json.dumps(tokenizer_settings))
    os.replace(temporary, directory / TEXT_MODULE)
    return True


class TracedTextEncoder:
    """Loads with torch alone; `encode_texts` gives the same unit vectors as the model."""

    def __init__(self, module: Any, tokenizer: Any) -> None:
        self._module = module
        self._tokenizer = tokenizer

    def encode_texts(self, texts: Sequence[str]) -> NDArray[np.float32]:
        import torch

        with torch.no_grad():
            features = self._module(self._tokenizer(list(texts)))
        return np.ascontiguousarray(features.numpy(), dtype=np.float32)


def load_text_encoder(directory: Path) -> TextEncoder | None:
    from searchapp.models import numpy_text_tower

    tower = numpy_text_tower.load(directory)
    if tower is not None:
        return tower
    module_path = directory / TEXT_MODULE
    if not module_path.is_file():
        return None
    try:
        settings = json.loads((directory / TOKENIZER_FILE).read_text())
        import torch

        tokenizer = _standalone_tokenizer(settings)
        if tokenizer is None:
            return None
        with _quiet_deprecation():
            module = torch.jit.load(str(module_path), map_location="cpu")  # type: ignore[no-untyped-call]
        return TracedTextEncoder(module, tokenizer)
    except Exception:
        log.warning("cannot load the saved query encoder in %s; using the model", directory)
        return None
