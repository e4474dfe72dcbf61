"""Label scores from cosine similarities, per model family, and the tags they select.

CLIP models were trained with a softmax over the batch, so a label's score is the softmax of
`logit_scale · cos` over the whole vocabulary: scores sum to 1 and say how much this label wins
over the others. SigLIP models were trained with a sigmoid per pair, so each label gets
`sigmoid(logit_scale · cos + logit_bias)` on its own: the chance that it applies at all.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from searchapp.models.base import ZeroShotScoring

DEFAULT_THRESHOLD = {"clip": 0.1, "siglip": 0.1}
DEFAULT_TOP_K = 5


def default_threshold(family: str) -> float:
    return DEFAULT_THRESHOLD.get(family, 0.1)


def label_scores(
    image_vectors: NDArray[np.float32],
    label_vectors: NDArray[np.float32],
    scoring: ZeroShotScoring,
) -> NDArray[np.float32]:
    """(images, labels) scores for unit image and label vectors."""
    logits = (image_vectors @ label_vectors.T) * np.float32(scoring.logit_scale)
    if scoring.family == "siglip":
        logits += np.float32(scoring.logit_bias or 0.0)
        out: NDArray[np.float32] = np.reciprocal(1.0 + np.exp(-logits)).astype(np.float32)
        return out
    logits -= logits.max(axis=1, keepdims=True)
    np.exp(logits, out=logits)
    logits /= logits.sum(axis=1, keepdims=True)
    return logits.astype(np.float32, copy=False)


def select_tags(
    scores: NDArray[np.float32], threshold: float, top_k: int
) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.float32]]:
    """For each row, its best `top_k` labels that score at least `threshold`.

    Returns parallel arrays (row, label index, score)."""
    k = min(top_k, scores.shape[1])
    if k <= 0 or scores.shape[0] == 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, np.zeros(0, dtype=np.float32)
    if k < scores.shape[1]:
        best = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    else:
        best = np.broadcast_to(np.arange(k), (scores.shape[0], k))
    best_scores = np.take_along_axis(scores, best, axis=1)
    rows, columns = np.nonzero(best_scores >= threshold)
    return rows.astype(np.int64), best[rows, columns].astype(np.int64), best_scores[rows, columns]


def ranked(scores: NDArray[np.float32], labels: tuple[str, ...]) -> list[tuple[str, float]]:
    """All labels of one image, best first (ties by label)."""
    order = sorted(range(len(labels)), key=lambda i: (-float(scores[i]), labels[i]))
    return [(labels[i], float(scores[i])) for i in order]
