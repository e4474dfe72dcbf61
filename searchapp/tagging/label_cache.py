"""Label embeddings shared by every library of a model, in the user cache.

The first library of a model embeds the default vocabulary (388 labels × 8 templates) once; the
next library of the same model, and the same vocabulary, reads the result from
`SEARCHAPP_CACHE_DIR/label-banks/<fingerprint>.npz`. The fingerprint covers the model identity,
the labels and the templates; a file that does not load, or of another shape, is ignored.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np

from searchapp.store.tag_store import LabelBank

log = logging.getLogger(__name__)


def _path(cache_dir: Path, fingerprint: str) -> Path:
    return cache_dir / "label-banks" / f"{fingerprint}.npz"


def load_bank(cache_dir: Path, fingerprint: str, labels: int, dim: int) -> LabelBank | None:
    path = _path(cache_dir, fingerprint)
    try:
        with np.load(path, allow_pickle=False) as archive:
            vectors = np.asarray(archive["vectors"], dtype=np.float32)
            family = str(archive["family"])
            scale = float(archive["logit_scale"])
            bias_array = archive["logit_bias"]
    except (OSError, KeyError, ValueError):
        return None
    if vectors.shape != (labels, dim) or not np.all(np.isfinite(vectors)):
        return None
    bias = None if bias_array.size == 0 else float(bias_array.reshape(-1)[0])
    return LabelBank(fingerprint, family, scale, bias, vectors)


def save_bank(cache_dir: Path, bank: LabelBank) -> None:
    path = _path(cache_dir, bank.fingerprint)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f".{path.stem}.{os.getpid()}.tmp.npz")
        bias = np.asarray([] if bank.logit_bias is None else [bank.logit_bias], dtype=np.float64)
        np.savez(
            temporary,
            vectors=bank.vectors,
            family=np.asarray(bank.family),
            logit_scale=np.asarray(bank.logit_scale),
            logit_bias=bias,
        )
        os.replace(temporary, path)
    except OSError as exc:
        log.info("could not cache label embeddings in %s: %s", path.parent, exc)
