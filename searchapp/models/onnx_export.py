"""Export a loaded open_clip model's image and text towers to ONNX, verified against torch.

Any open_clip architecture goes through `torch.onnx.export` (the torch.export-based exporter,
with a dynamic batch, and for the text tower a dynamic sequence length, so a short prompt runs
only over its own tokens). Before an export is put in the cache, each tower's output is compared
with the model's on inputs of other batch sizes and lengths than the one traced, and the NumPy
preprocessing and standalone tokenizer with open_clip's own: a tower that misses the bound
(`MIN_COSINE`) is left out of the export, and torch keeps serving it.

torch is imported only here and in the open_clip backend.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import shutil
import tempfile
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from searchapp.models.clip_tokenizer import SUPPORTED_CLEAN, ClipTokenizer, open_clip_bpe_path
from searchapp.models.export_cache import (
    IMAGE_GRAPH,
    TEXT_GRAPH,
    Manifest,
    export_dir,
    replace_directory,
    write_manifest,
)
from searchapp.models.image_preprocess import ImagePreprocess

if TYPE_CHECKING:
    import torch

    from searchapp.models.base import ModelIdentity, ZeroShotScoring

log = logging.getLogger(__name__)
MIN_COSINE = 0.9999
PREPROCESS_TOLERANCE = 1e-4
OPSET = 18
CHECK_TEXTS = (
    "a photo of a dog",
    "Kids on a beach at sunset!",
    "ÉTÉ 2024 — café ☕ #42",
    "a very long query " * 30,
)
CHECK_SIZES = ((640, 480), (300, 500), (97, 61))


@contextlib.contextmanager
def _quiet_exporter() -> Iterator[None]:
    """The exporter prints its progress to stdout and warns about things it handles."""
    quiet = logging.getLogger("torch")
    level = quiet.level
    quiet.setLevel(logging.ERROR)
    try:
        with (
            warnings.catch_warnings(),
            contextlib.redirect_stdout(io.StringIO()),
            contextlib.redirect_stderr(io.StringIO()),
        ):
            warnings.simplefilter("ignore")
            yield
    finally:
        quiet.setLevel(level)


def preprocess_of(transform: Any) -> ImagePreprocess | None:
    """The parameters of open_clip's default eval transform, or None for any other."""
    steps = list(getattr(transform, "transforms", []))
    names = [type(step).__name__ for step in steps]
    allowed = {"Resize", "CenterCrop", "MaybeConvertMode", "MaybeToTensor", "ToTensor"}
    allowed |= {"Normalize", "function"}
    if not {"Resize", "CenterCrop", "Normalize"} <= set(names) or set(names) - allowed:
        return None
    by_name = {type(step).__name__: step for step in steps}
    resize, crop, normalize = by_name["Resize"], by_name["CenterCrop"], by_name["Normalize"]
    size = resize.size
    if isinstance(size, (list, tuple)):
        if len(size) != 1:
            return None
        size = size[0]
    if not isinstance(size, int) or tuple(crop.size) != (size, size):
        return None
    interpolation = str(getattr(resize.interpolation, "value", resize.interpolation))
    if interpolation not in ("bicubic", "bilinear", "nearest", "lanczos"):
        return None
    mean, std = tuple(float(m) for m in normalize.mean), tuple(float(s) for s in normalize.std)
    if len(mean) != 3 or len(std) != 3:
        return None
    return ImagePreprocess(size, mean, std, interpolation)


def _preprocess_matches(ours: ImagePreprocess, transform: Any) -> bool:
    from PIL import Image

    rng = np.random.default_rng(0)
    for width, height in CHECK_SIZES:
        image = Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8))
        expected = transform(image).numpy()
        actual = ours(image)
        if expected.shape != actual.shape or np.abs(expected - actual).max() > PREPROCESS_TOLERANCE:
            return False
    return True


def _min_cosine(a: np.ndarray[Any, Any], b: np.ndarray[Any, Any]) -> float:
    a = a / np.linalg.norm(a, axis=1, keepdims=True)
    b = b / np.linalg.norm(b, axis=1, keepdims=True)
    return float(np.min(np.sum(a * b, axis=1)))


def _image_tower(model: Any) -> torch.nn.Module:
    import torch

    class ImageTower(torch.nn.Module):
        def __init__(self, visual: torch.nn.Module) -> None:
            super().__init__()
            self.visual = visual

        def forward(self, pixels: torch.Tensor) -> torch.Tensor:
            return torch.nn.functional.normalize(self.visual(pixels).float(), dim=-1)

    return ImageTower(model.visual)


def _truncatable(model: Any) -> bool:
    """Whether positions after the longest text's end can be dropped (causal mask, end-of-text
    pooling, the standard open_clip text transformer): see `encode_text_up_to_end`."""
    needed = ("token_embedding", "positional_embedding", "transformer", "ln_final")
    return (
        getattr(model, "text_pool_type", None) in ("argmax", "eos")
        and getattr(model, "attn_mask", None) is not None
        and all(hasattr(model, name) for name in needed)
    )


def _text_tower(model: Any) -> torch.nn.Module:
    import torch

    class TextTower(torch.nn.Module):
        def __init__(self, clip: Any) -> None:
            super().__init__()
            self.clip = clip

        def forward(self, tokens: torch.Tensor) -> torch.Tensor:
            features = self._encode(tokens)
            return torch.nn.functional.normalize(features.float(), dim=-1)

        def _encode(self, tokens: torch.Tensor) -> torch.Tensor:
            clip = self.clip
            if not _truncatable(clip):
                return clip.encode_text(tokens)  # type: ignore[no-any-return]
            return _encode_prefix(clip, tokens)

    return TextTower(model)


def _encode_prefix(model: Any, tokens: torch.Tensor) -> torch.Tensor:
    """The text tower over `tokens`, already cut after the longest text's end token."""
    import torch
    from open_clip.transformer import text_global_pool

    length = tokens.shape[1]
    cast_dtype = model.transformer.get_cast_dtype()
    x = model.token_embedding(tokens).to(cast_dtype)
    x = x + model.positional_embedding[:length].to(cast_dtype)
    x = model.transformer(x, attn_mask=model.attn_mask[:length, :length])
    eos_id = getattr(model, "text_eos_id", None)
    x = text_global_pool(model.ln_final(x), tokens, model.text_pool_type, eos_token_id=eos_id)
    projection = model.text_projection
    if projection is None:
        return x  # type: ignore[no-any-return]
    if isinstance(projection, torch.nn.Linear):
        return projection(x)  # type: ignore[no-any-return]
    return x @ projection  # type: ignore[no-any-return]


def _export(module: Any, example: Any, dynamic: dict[int, Any], path: Path) -> None:
    """Weights go to `<graph>.data` beside the graph: ONNX Runtime maps that file instead of
    parsing it, which makes a session start 2-3x sooner (0.7 s instead of 1.9 s for
    ViT-B-32's text tower here)."""
    import torch

    with _quiet_exporter(), torch.no_grad():
        program = torch.onnx.export(
            module,
            (example,),
            input_names=["model_input"],
            output_names=["unit_vectors"],
            dynamic_shapes=({**dynamic},),
            opset_version=OPSET,
            dynamo=True,
        )
        assert program is not None
        program.save(str(path), external_data=True)


def _session(path: Path) -> Any:
    import onnxruntime

    return onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def _export_image(model: Any, size: int, path: Path) -> float:
    import torch
    from torch.export import Dim

    tower = _image_tower(model).eval()
    generator = torch.Generator().manual_seed(0)
    _export(tower, torch.randn(2, 3, size, size, generator=generator), {0: Dim("n")}, path)
    session = _session(path)
    worst = 1.0
    for batch in (1, 3):
        pixels = torch.randn(batch, 3, size, size, generator=generator)
        with torch.no_grad():
            expected = tower(pixels).numpy()
        actual = session.run(None, {"model_input": pixels.numpy()})[0]
        worst = min(worst, _min_cosine(expected, actual))
    return worst


def _prefix_tokens(tokens: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    from searchapp.models.onnx_embedder import prefix_tokens

    return prefix_tokens(tokens)


def _export_text(model: Any, tokens: np.ndarray[Any, Any], truncates: bool, path: Path) -> float:
    import torch
    from torch.export import Dim

    tower = _text_tower(model).eval()
    example = torch.from_numpy(tokens[:2, :12] if truncates else tokens[:2])
    dynamic = (
        {0: Dim("n"), 1: Dim("length", min=2, max=tokens.shape[1])} if truncates else {0: Dim("n")}
    )
    _export(tower, example, dynamic, path)
    session = _session(path)
    worst = 1.0
    for rows in (slice(0, 1), slice(0, 3), slice(0, len(tokens))):
        batch = tokens[rows]
        with torch.no_grad():
            expected = torch.nn.functional.normalize(
                model.encode_text(torch.from_numpy(batch)).float(), dim=-1
            ).numpy()
        feed = _prefix_tokens(batch) if truncates else batch
        actual = session.run(None, {"model_input": feed})[0]
        worst = min(worst, _min_cosine(expected, actual))
    return worst


def _standalone_tokens(tokenizer: Any, clean: str) -> tuple[np.ndarray[Any, Any], int] | None:
    """open_clip's tokens for the check texts when our standalone tokenizer gives the same."""
    bpe = open_clip_bpe_path()
    if type(tokenizer).__name__ != "SimpleTokenizer" or bpe is None or clean not in SUPPORTED_CLEAN:
        return None
    context_length = int(getattr(tokenizer, "context_length", 77))
    expected = tokenizer(list(CHECK_TEXTS)).numpy()
    ours = ClipTokenizer(bpe, context_length, clean)(list(CHECK_TEXTS))
    if not np.array_equal(expected, ours):
        return None
    return expected.astype(np.int64), context_length


def export_model(
    model: Any,
    transform: Any,
    tokenizer: Any,
    tokenizer_clean: str,
    scoring: ZeroShotScoring,
    identity: ModelIdentity,
    cache_dir: Path,
) -> Manifest | None:
    """Export both towers of an fp32 CPU model into the cache; None when neither could be."""
    started = time.perf_counter()
    final = export_dir(cache_dir, identity)
    final.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{final.name}.", dir=final.parent))
    data: dict[str, Any] = {
        "identity": identity.key,
        "model": identity.describe(),
        "dim": None,
        "image": None,
        "text": None,
        "scoring": {
            "family": scoring.family,
            "logit_scale": scoring.logit_scale,
            "logit_bias": scoring.logit_bias,
        },
        "opset": OPSET,
    }
    try:
        preprocess = preprocess_of(transform)
        if preprocess is not None and _preprocess_matches(preprocess, transform):
            try:
                cosine = _export_image(model, preprocess.size, staging / IMAGE_GRAPH)
            except Exception:
                log.warning(
                    "could not export the image tower of %s", identity.describe(), exc_info=True
                )
                cosine = 0.0
            if cosine >= MIN_COSINE:
                data["image"] = {
                    "graph": IMAGE_GRAPH,
                    "preprocess": preprocess.as_dict(),
                    "min_cosine": cosine,
                }
            else:
                (staging / IMAGE_GRAPH).unlink(missing_ok=True)
                log.info("exported image tower disagrees with torch (cosine %.6f)", cosine)
        standalone = _standalone_tokens(tokenizer, tokenizer_clean)
        if standalone is not None:
            tokens, context_length = standalone
            truncates = _truncatable(model)
            try:
                cosine = _export_text(model, tokens, truncates, staging / TEXT_GRAPH)
            except Exception:
                log.warning(
                    "could not export the text tower of %s", identity.describe(), exc_info=True
                )
                cosine = 0.0
            if cosine >= MIN_COSINE:
                data["text"] = {
                    "graph": TEXT_GRAPH,
                    "context_length": context_length,
                    "clean": tokenizer_clean,
                    "truncates": truncates,
                    "min_cosine": cosine,
                }
            else:
                (staging / TEXT_GRAPH).unlink(missing_ok=True)
                log.info("exported text tower disagrees with torch (cosine %.6f)", cosine)
        if data["image"] is None and data["text"] is None:
            shutil.rmtree(staging, ignore_errors=True)
            return None
        data["dim"] = _dim(model)
        data["export_seconds"] = round(time.perf_counter() - started, 2)
        write_manifest(staging, data)
        os.chmod(staging, 0o755)
        replace_directory(staging, final)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    log.info("exported %s to ONNX in %.1f s", identity.describe(), time.perf_counter() - started)
    from searchapp.models.export_cache import load_manifest

    return load_manifest(cache_dir, identity)


def _dim(model: Any) -> int:
    output_dim = getattr(model.visual, "output_dim", None)
    if output_dim:
        return int(output_dim)
    return int(model.text_projection.shape[-1])
