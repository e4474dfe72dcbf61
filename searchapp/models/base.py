"""What every embedding backend provides, and how a model is named and identified."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray
    from PIL import Image

DEFAULT_MODEL = "ViT-B-32-256"
DEFAULT_PRETRAINED = "datacomp_s34b_b86k"
CHECKPOINT_PREFIX = "checkpoint:"
FINGERPRINT_BLOCK = 1 << 16
FINGERPRINT_BLOCKS = 64


@dataclass(frozen=True)
class ModelSpec:
    """How the user asked for a model: `--model`, `--pretrained`, `--model-config`.

    `pretrained` is an open_clip tag or a local checkpoint path; `config_path` registers a custom
    architecture named after the file's stem.
    """

    name: str = DEFAULT_MODEL
    pretrained: str | None = DEFAULT_PRETRAINED
    config_path: Path | None = None
    backend: str = "open_clip"


@dataclass(frozen=True)
class ModelIdentity:
    """What made a vector: vectors of two identities are never compared.

    `weights` is the pretrained tag, or `checkpoint:<fingerprint>` of a local checkpoint (see
    `checkpoint_fingerprint`); `config_hash` covers
    the architecture, so a custom config that changes keeps no stale vectors.
    """

    backend: str
    name: str
    weights: str
    config_hash: str

    @property
    def key(self) -> str:
        return f"{self.backend}:{self.name}:{self.weights}:{self.config_hash[:16]}"

    @property
    def is_local_checkpoint(self) -> bool:
        return self.weights.startswith(CHECKPOINT_PREFIX)

    def describe(self) -> str:
        weights = "local checkpoint" if self.is_local_checkpoint else self.weights
        return f"{self.name} ({weights})"


def config_hash(config: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()


def checkpoint_fingerprint(path: Path) -> str:
    """SHA-256 over the size and 64 blocks of 64 KiB spread evenly over the file (the whole file
    when smaller than that). Reading 4 MiB instead of a 600 MB checkpoint keeps `index` with
    model flags fast; checkpoints that differ in their weights differ in nearly every block."""
    size = path.stat().st_size
    digest = hashlib.sha256(size.to_bytes(8, "little"))
    with path.open("rb") as fh:
        if size <= FINGERPRINT_BLOCK * FINGERPRINT_BLOCKS:
            digest.update(fh.read())
        else:
            step = (size - FINGERPRINT_BLOCK) // (FINGERPRINT_BLOCKS - 1)
            for block in range(FINGERPRINT_BLOCKS):
                fh.seek(block * step)
                digest.update(fh.read(FINGERPRINT_BLOCK))
    return f"{CHECKPOINT_PREFIX}{digest.hexdigest()}"


@dataclass(frozen=True)
class ZeroShotScoring:
    """How a model turns cosine similarities into label scores.

    `clip`: softmax over the vocabulary of `logit_scale · cos` (scores sum to 1 across labels).
    `siglip`: sigmoid of `logit_scale · cos + logit_bias`, each label on its own."""

    family: str
    logit_scale: float
    logit_bias: float | None


class Embedder(Protocol):
    """A loaded model that turns images and texts into L2-normalised float32 vectors."""

    identity: ModelIdentity
    dim: int
    input_size: int
    device: str
    precision: str

    @property
    def tensor_preprocess(self) -> tuple[int, tuple[float, ...], tuple[float, ...]] | None:
        """(size, mean, std) when preprocessing can run on tensors (device decode), else None."""

    def preprocess(self, image: Image.Image) -> Any:
        """Turn one RGB image into the model's input (called from decode workers)."""

    def encode_images(self, batch: Sequence[Any]) -> NDArray[np.float32]:
        """Embed preprocessed images; returns an (n, dim) array of unit vectors."""

    def encode_texts(self, texts: Sequence[str]) -> NDArray[np.float32]:
        """Embed texts; returns an (n, dim) array of unit vectors."""

    def zero_shot_scoring(self) -> ZeroShotScoring:
        """The model's own constants for turning similarities into label scores."""

    def unload(self) -> None:
        """Release the weights (and device memory)."""


class ImageEncoder(Protocol):
    input_size: int

    def preprocess(self, image: Image.Image) -> Any:
        """Turn one RGB image into the encoder's input."""

    def encode_images(self, batch: Sequence[Any]) -> NDArray[np.float32]:
        """Embed preprocessed images; returns an (n, dim) array of unit vectors."""


class TextEncoder(Protocol):
    def encode_texts(self, texts: Sequence[str]) -> NDArray[np.float32]:
        """Embed texts; returns an (n, dim) array of unit vectors."""


@runtime_checkable
class ReportsTextOverflow(Protocol):
    """A text encoder that can say when a text is longer than its context (it is cut)."""

    def text_overflow(self, text: str) -> tuple[int, int] | None:
        """(tokens the text takes, the model's context) when it does not fit, else None."""


def truncation_note(text: str, tokens: int, context: int) -> str:
    shown = text if len(text) <= 40 else text[:37] + "…"
    return (
        f'The query "{shown}" is {tokens} tokens long; the model reads {context}, so only its '
        "beginning was used. Shorten it, or split it into terms joined with +."
    )
