"""CLIP and SigLIP models through open_clip: registry names, hf-hub ids, local checkpoints and
custom architecture configs. torch and open_clip are imported only here."""

from __future__ import annotations

import contextlib
import difflib
import importlib.util
import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from searchapp.errors import ModelNotFoundError, SearchAppError, WeightsUnavailableError
from searchapp.models.base import (
    ModelIdentity,
    ModelSpec,
    ZeroShotScoring,
    checkpoint_fingerprint,
    config_hash,
)
from searchapp.models.checkpoint_loading import skipped_weight_init, weights_read_into
from searchapp.models.deferred_weights import DeferredWeights
from searchapp.models.hf_tokenizer import open_clip_tokenizer, tokenizer_source
from searchapp.models.open_clip_text import encode_text_up_to_end
from searchapp.models.precision import choose_device, choose_precision, torch_dtype
from searchapp.models.weights import ensure_hf_repo_available, ensure_tag_available

if TYPE_CHECKING:
    import torch
    from numpy.typing import NDArray
    from PIL import Image

    from searchapp.config import Settings
    from searchapp.models.export_cache import Manifest

log = logging.getLogger(__name__)
HF_HUB_PREFIX = "hf-hub:"
REQUIRED_CONFIG_KEYS = ("embed_dim", "vision_cfg", "text_cfg")


def read_model_config(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise ModelNotFoundError(f"Model config file not found: {path}")
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelNotFoundError(f"Model config {path} is not valid JSON: {exc}") from None
    missing = [
        key for key in REQUIRED_CONFIG_KEYS if not isinstance(config, dict) or key not in config
    ]
    if missing:
        raise ModelNotFoundError(
            f"Model config {path} is not an open_clip config: missing {', '.join(missing)}."
        )
    return dict(config)


def builtin_model_config(name: str) -> dict[str, Any] | None:
    """One of open_clip's bundled configs, read without importing open_clip (and torch)."""
    spec = importlib.util.find_spec("open_clip")
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        path = Path(location) / "model_configs" / f"{name.replace('/', '-')}.json"
        if path.is_file():
            return dict(json.loads(path.read_text(encoding="utf-8")))
    return None


def register_model_config(path: Path) -> str:
    """Register a custom architecture with open_clip under the file's stem."""
    import open_clip

    read_model_config(path)
    open_clip.add_model_config(path)
    return path.stem


class OpenClipBackend:
    """The default backend: anything open_clip can build."""

    def _prepare(self, spec: ModelSpec) -> None:
        if spec.config_path is not None:
            register_model_config(spec.config_path)

    def architecture_config(self, spec: ModelSpec) -> dict[str, Any]:
        if spec.config_path is not None and spec.config_path.stem == spec.name:
            return read_model_config(spec.config_path)
        builtin = builtin_model_config(spec.name)
        if builtin is not None:
            return builtin
        import open_clip

        self._prepare(spec)
        if spec.name.startswith(HF_HUB_PREFIX):
            repo_id = spec.name[len(HF_HUB_PREFIX) :]
            ensure_hf_repo_available(repo_id, spec.name)
            from open_clip.factory import _get_hf_config

            try:
                return dict(_get_hf_config(repo_id)["model_cfg"])
            except Exception as exc:
                raise WeightsUnavailableError(
                    f"Could not fetch the open_clip config of {spec.name}: {exc}"
                ) from None
        config = open_clip.get_model_config(spec.name)
        if config is None:
            close = difflib.get_close_matches(spec.name, open_clip.list_models(), n=3)
            hint = f" Did you mean: {', '.join(close)}?" if close else ""
            raise ModelNotFoundError(
                f"Unknown model '{spec.name}'.{hint} Run `searchapp models` to list the "
                "architectures, or register your own with --model-config my-arch.json."
            )
        return dict(config)

    def _weights_id(self, spec: ModelSpec) -> str:
        if spec.name.startswith(HF_HUB_PREFIX):
            return spec.name
        if spec.pretrained is None:
            raise ModelNotFoundError(
                f"No weights given for {spec.name}: pass --pretrained with a tag "
                f"({self._known_tags(spec.name)}) or a checkpoint file."
            )
        checkpoint = Path(spec.pretrained).expanduser()
        if checkpoint.is_file():
            return checkpoint_fingerprint(checkpoint)
        import open_clip

        if open_clip.get_pretrained_cfg(spec.name, spec.pretrained):
            return spec.pretrained
        raise ModelNotFoundError(
            f"--pretrained '{spec.pretrained}' is neither a checkpoint file nor a known tag for "
            f"{spec.name} (known tags: {self._known_tags(spec.name)})."
        )

    @staticmethod
    def _known_tags(name: str) -> str:
        import open_clip

        return ", ".join(open_clip.list_pretrained_tags_by_model(name)) or "none"

    def identify(self, spec: ModelSpec) -> ModelIdentity:
        config = self.architecture_config(spec)
        return ModelIdentity("open_clip", spec.name, self._weights_id(spec), config_hash(config))

    def load(
        self, spec: ModelSpec, settings: Settings, identity: ModelIdentity | None = None
    ) -> OpenClipEmbedder:
        import open_clip

        from searchapp.process_memory import release_library_pages

        release_library_pages()
        identity = identity or self.identify(spec)
        self._prepare(spec)
        pretrained = spec.pretrained
        if spec.name.startswith(HF_HUB_PREFIX):
            ensure_hf_repo_available(spec.name[len(HF_HUB_PREFIX) :], spec.name)
            pretrained = None
        elif pretrained is not None:
            tag_cfg = open_clip.get_pretrained_cfg(spec.name, pretrained)
            if tag_cfg:
                ensure_tag_available(tag_cfg, identity.describe())
            else:
                pretrained = str(Path(pretrained).expanduser())
        text_cfg = self.architecture_config(spec).get("text_cfg", {})
        hf_name = text_cfg.get("hf_tokenizer_name")
        source = tokenizer_source(str(hf_name), identity.describe()) if hf_name else None
        device = choose_device(settings.device)
        precision = choose_precision(device, settings.precision)
        try:
            init = skipped_weight_init() if pretrained else contextlib.nullcontext()
            with init, weights_read_into(torch_dtype(precision)) as read:
                model, _, preprocess = open_clip.create_model_and_transforms(
                    spec.name, pretrained=pretrained, device=device
                )
            tokenizer = open_clip_tokenizer(spec.name, text_cfg, source)
        except Exception as exc:  # open_clip and torch raise anything from a bad checkpoint
            first_line = (
                str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            )
            if "download" in first_line.lower() or "hub" in first_line.lower():
                raise WeightsUnavailableError(
                    f"Could not get the weights for {identity.describe()}: {first_line[:300]}"
                ) from None
            raise SearchAppError(
                f"Could not load {identity.describe()}: {first_line[:300]}. Check that the "
                "checkpoint was saved from the same architecture (--model / --model-config)."
            ) from None
        clean = str(text_cfg.get("tokenizer_kwargs", {}).get("clean", "lower"))
        return OpenClipEmbedder(
            identity, model, preprocess, tokenizer, device, precision, clean, read.deferred
        )


class OpenClipEmbedder:
    """A loaded open_clip model; vectors come out as L2-normalised float32."""

    def __init__(
        self,
        identity: ModelIdentity,
        model: Any,
        preprocess: Any,
        tokenizer: Any,
        device: str,
        precision: str,
        tokenizer_clean: str = "lower",
        deferred: DeferredWeights | None = None,
    ) -> None:
        self.identity = identity
        self.device = device
        self.precision = precision
        self._dtype: torch.dtype = torch_dtype(precision)
        self._model = model.to(device=device, dtype=self._dtype).eval()
        self._preprocess = preprocess
        self._tokenizer = tokenizer
        self._tokenizer_clean = tokenizer_clean
        self._deferred = deferred
        image_size = getattr(model.visual, "image_size", 224)
        self.input_size = int(max(image_size) if isinstance(image_size, tuple) else image_size)
        self.dim = int(self._embed_dim(model))

    @staticmethod
    def _embed_dim(model: Any) -> int:
        output_dim = getattr(model.visual, "output_dim", None)
        if output_dim:
            return int(output_dim)
        return int(model.text_projection.shape[-1])

    def preprocess(self, image: Image.Image) -> Any:
        return self._preprocess(image)

    def _normalised(self, features: Any) -> NDArray[np.float32]:
        import torch

        features = torch.nn.functional.normalize(features.float(), dim=-1)
        return np.ascontiguousarray(features.cpu().numpy(), dtype=np.float32)

    def encode_images(self, batch: Sequence[Any]) -> NDArray[np.float32]:
        import torch

        if len(batch) == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        pixels = torch.stack([item.to(self.device) for item in batch]).to(dtype=self._dtype)
        with torch.inference_mode():
            return self._normalised(self._model.encode_image(pixels))

    def encode_texts(self, texts: Sequence[str]) -> NDArray[np.float32]:
        import torch

        if len(texts) == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        tokens = self._tokenizer(list(texts)).to(self.device)
        model = self._with_text_tower()
        with torch.inference_mode():
            return self._normalised(encode_text_up_to_end(model, tokens))

    def _with_text_tower(self) -> Any:
        """The model, its text tower's weights read in first if they were deferred."""
        if self._deferred is not None:
            self._deferred.materialize(self._model)
        return self._model

    def text_overflow(self, text: str) -> tuple[int, int] | None:
        """open_clip's own tokenizer (`encode`: BPE ids without start/end) or an HF one."""
        tokenizer = self._tokenizer
        context = int(getattr(tokenizer, "context_length", 0) or 0)
        try:
            if hasattr(tokenizer, "encoder") and callable(getattr(tokenizer, "encode", None)):
                tokens = len(tokenizer.encode(text)) + 2
            elif hasattr(tokenizer, "tokenizer"):
                tokens = len(tokenizer.tokenizer(text)["input_ids"])
            else:
                return None
        except Exception:  # a tokenizer we cannot ask only costs the note
            return None
        return (tokens, context) if context and tokens > context else None

    def zero_shot_scoring(self) -> ZeroShotScoring:
        model = self._model
        scale = getattr(model, "logit_scale", None)
        scale_value = 100.0 if scale is None else float(scale.detach().float().exp())
        bias = getattr(model, "logit_bias", None)
        if bias is None:
            return ZeroShotScoring("clip", scale_value, None)
        return ZeroShotScoring("siglip", scale_value, float(bias.detach().float()))

    @property
    def tensor_preprocess(self) -> tuple[int, tuple[float, ...], tuple[float, ...]] | None:
        """(size, mean, std) when preprocessing is open_clip's default (resize the shortest
        side, centre crop, normalise), so it can be done on tensors; else None."""
        steps = {type(step).__name__: step for step in getattr(self._preprocess, "transforms", [])}
        resize, crop, normalize = (
            steps.get("Resize"),
            steps.get("CenterCrop"),
            steps.get("Normalize"),
        )
        if resize is None or crop is None or normalize is None:
            return None
        size = resize.size if isinstance(resize.size, int) else None
        if size is None and isinstance(resize.size, (list, tuple)) and len(resize.size) == 1:
            size = int(resize.size[0])
        if size is None or tuple(crop.size) != (size, size):
            return None
        return size, tuple(float(m) for m in normalize.mean), tuple(float(s) for s in normalize.std)

    def export_onnx(self, cache_dir: Path) -> Manifest | None:
        """Export both towers to ONNX into the cache (see `onnx_export`); fp32 CPU models only."""
        if self.device != "cpu" or self.precision != "fp32":
            return None
        from searchapp.models.onnx_export import export_model

        return export_model(
            self._with_text_tower(),
            self._preprocess,
            self._tokenizer,
            self._tokenizer_clean,
            self.zero_shot_scoring(),
            self.identity,
            cache_dir,
        )

    def use_precision(self, precision: str) -> None:
        """Cast the loaded weights (e.g. fp32 → bf16 once an fp32 export is made)."""
        self._dtype = torch_dtype(precision)
        self._model = self._model.to(dtype=self._dtype)
        self.precision = precision

    def unload(self) -> None:
        self._model = None
        if self.device == "cuda":
            import torch

            torch.cuda.empty_cache()
