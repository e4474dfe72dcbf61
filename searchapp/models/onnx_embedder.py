"""Embedding with exported towers on ONNX Runtime: no torch, no open_clip.

Each tower's session is created on first use, so a text query loads only the text graph and a
query photo only the image graph. Vectors are L2-normalised float32 like every embedder's.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from searchapp.models.base import ModelIdentity, ZeroShotScoring
from searchapp.models.clip_tokenizer import ClipTokenizer, open_clip_bpe_path
from searchapp.models.export_cache import Manifest
from searchapp.models.image_preprocess import ImagePreprocess

log = logging.getLogger(__name__)


def prefix_tokens(tokens: NDArray[np.int64]) -> NDArray[np.int64]:
    """The columns up to the longest text's end token (CLIP's end token has the highest id)."""
    length = max(int(np.argmax(tokens, axis=1).max()) + 1, 2)
    return np.ascontiguousarray(tokens[:, :length])


def _threads() -> int:
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def open_session(path: Path, prepack: bool = True) -> Any:
    """An ONNX Runtime CPU session with one thread per usable core; its threads sleep between
    calls instead of spinning, so decode workers get the cores while a batch is assembled.

    Without ONNX Runtime's CPU memory arena: the arena keeps the largest activations of every
    batch shape it has seen (+470 MiB for ViT-B-32-256's image tower at batch 32, +90 MiB for
    its text tower over the default vocabulary) at no measurable gain in speed here.

    A graph that holds its weights inline opens as its copy with mapped weights
    (`mapped_graph`). Without `prepack` the weights are not repacked for the matrix kernels at
    start (ViT-B-32-256: text tower 0.3 s -> 0.1 s, image tower 0.5 s -> 0.1 s) but every run
    packs what it uses (a one-text run 22 -> 70 ms): for a process that runs a session once."""
    import onnxruntime

    from searchapp.models.mapped_graph import mapped_graph

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = _threads()
    options.inter_op_num_threads = 1
    options.enable_cpu_mem_arena = False
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    if not prepack:
        options.add_session_config_entry("session.disable_prepacking", "1")
    return onnxruntime.InferenceSession(
        str(mapped_graph(path, onnxruntime)),
        sess_options=options,
        providers=["CPUExecutionProvider"],
    )


class _LazySession:
    """Opened on the first run; with `prepack` False its weights are repacked only when that
    first run is a batch (labels, photos to index), not one query text or photo."""

    def __init__(self, path: Path, prepack: bool = True) -> None:
        self.path = path
        self.prepack = prepack
        self._session: Any = None
        self._lock = threading.Lock()

    def run(self, feed: NDArray[Any]) -> NDArray[np.float32]:
        with self._lock:
            if self._session is None:
                self._session = self._open(self.prepack or len(feed) > 1)
        output = self._session.run(None, {"model_input": feed})[0]
        return np.ascontiguousarray(output, dtype=np.float32)

    def _open(self, prepack: bool) -> Any:
        """In a process that runs the session many times (`self.prepack`) the packed weights
        then move to huge pages (`huge_pages`)."""
        if not self.prepack:
            return open_session(self.path, prepack)
        from searchapp.models.huge_pages import anonymous_regions, collapse_grown

        before = anonymous_regions()
        session = open_session(self.path, prepack)
        log.debug("%s: %d MiB of weights in huge pages", self.path, collapse_grown(before) >> 20)
        return session

    def close(self) -> None:
        self._session = None


class OnnxImageEncoder:
    def __init__(self, manifest: Manifest, precision: str, prepack: bool = True) -> None:
        image = manifest.image
        path = manifest.graph_path("image", precision)
        if image is None or path is None:
            raise ValueError("this export has no image tower in that precision")
        self.preprocess_steps = ImagePreprocess.from_dict(image["preprocess"])
        self.input_size = self.preprocess_steps.size
        self.dim = manifest.dim
        self._session = _LazySession(path, prepack)

    def preprocess(self, image: Image.Image) -> NDArray[np.float32]:
        return self.preprocess_steps(image)

    def encode_images(self, batch: Sequence[Any]) -> NDArray[np.float32]:
        if len(batch) == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        return self._session.run(np.stack([np.asarray(item, np.float32) for item in batch]))

    def close(self) -> None:
        self._session.close()


class OnnxTextEncoder:
    prompt_batch = 32  # texts per call when a vocabulary is embedded (see `tagging.tagger`)

    def __init__(self, manifest: Manifest, precision: str, prepack: bool = True) -> None:
        text = manifest.text
        path = manifest.graph_path("text", precision)
        bpe = open_clip_bpe_path()
        if text is None or path is None or bpe is None:
            raise ValueError("this export has no text tower in that precision")
        self._tokenizer = ClipTokenizer(bpe, int(text["context_length"]), str(text["clean"]))
        self._truncates = bool(text["truncates"])
        self.dim = manifest.dim
        self._session = _LazySession(path, prepack)
        scoring = manifest.scoring
        self._scoring = ZeroShotScoring(
            str(scoring["family"]), float(scoring["logit_scale"]), scoring.get("logit_bias")
        )

    def encode_texts(self, texts: Sequence[str]) -> NDArray[np.float32]:
        if len(texts) == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        tokens = self._tokenizer(list(texts)).astype(np.int64)
        return self._session.run(prefix_tokens(tokens) if self._truncates else tokens)

    def text_overflow(self, text: str) -> tuple[int, int] | None:
        tokens = len(self._tokenizer.encode(text)) + 2  # with the start and end tokens
        context = self._tokenizer.context_length
        return (tokens, context) if tokens > context else None

    def zero_shot_scoring(self) -> ZeroShotScoring:
        return self._scoring

    def close(self) -> None:
        self._session.close()


class OnnxEmbedder:
    """Both towers of an export, behind the `Embedder` interface."""

    device = "cpu"
    tensor_preprocess = None

    def __init__(self, identity: ModelIdentity, manifest: Manifest, precision: str) -> None:
        self.identity = identity
        self.precision = precision
        self.runtime = "onnx"
        self._image = OnnxImageEncoder(manifest, precision)
        self._text = OnnxTextEncoder(manifest, precision)
        self.dim = manifest.dim
        self.input_size = self._image.input_size

    def preprocess(self, image: Image.Image) -> NDArray[np.float32]:
        return self._image.preprocess(image)

    def encode_images(self, batch: Sequence[Any]) -> NDArray[np.float32]:
        return self._image.encode_images(batch)

    def encode_texts(self, texts: Sequence[str]) -> NDArray[np.float32]:
        return self._text.encode_texts(texts)

    def text_overflow(self, text: str) -> tuple[int, int] | None:
        return self._text.text_overflow(text)

    def zero_shot_scoring(self) -> ZeroShotScoring:
        return self._text.zero_shot_scoring()

    def unload(self) -> None:
        self._image.close()
        self._text.close()
