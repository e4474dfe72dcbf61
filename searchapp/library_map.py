"""A 2-D map of the library: photo embeddings projected on their two principal axes (PCA by an
SVD in numpy), so that photos that look alike lie close together. The UI draws it as a scatter
plot coloured by tag or folder; a click opens the photo."""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

MAP_POINTS = 5000
"""At most this many photos are drawn; a larger library is sampled (always the same sample)."""


@dataclass(frozen=True)
class MapPoint:
    photo_id: int
    x: float
    y: float
    path: str
    folder: str
    tag: str | None
    """The photo's best-scoring tag, if it has one."""


@dataclass(frozen=True)
class LibraryMap:
    points: list[MapPoint]
    vectors: int
    """How many embeddings the library holds (points are a sample when fewer)."""
    explained: tuple[float, float]
    """The share of the embeddings' variance each axis shows."""


def principal_plane(
    vectors: NDArray[np.float32],
) -> tuple[NDArray[np.float64], tuple[float, float]]:
    """Each row's coordinates on the two principal axes, and the variance share of each axis.
    Signs are fixed (the largest loading of each axis is positive) so a map does not flip."""
    centred = np.asarray(vectors, dtype=np.float64)
    centred = centred - centred.mean(axis=0, keepdims=True)
    if len(centred) < 2:
        return np.zeros((len(centred), 2)), (0.0, 0.0)
    _, singular, axes = np.linalg.svd(centred, full_matrices=False)
    axes = axes[:2]
    if axes.shape[0] < 2:
        axes = np.vstack([axes, np.zeros_like(axes)])
        singular = np.append(singular, 0.0)
    signs = np.sign(axes[np.arange(2), np.abs(axes).argmax(axis=1)])
    axes = axes * np.where(signs == 0, 1.0, signs)[:, None]
    variance = singular**2
    total = float(variance.sum()) or 1.0
    coords: NDArray[np.float64] = centred @ axes.T
    return coords, (float(variance[0] / total), float(variance[1] / total))


def sample_ids(ids: NDArray[np.int64], limit: int = MAP_POINTS) -> NDArray[np.int64]:
    if len(ids) <= limit:
        return np.sort(ids)
    return np.sort(np.random.default_rng(0).choice(ids, limit, replace=False))


def folder_of(path: str, roots: list[str]) -> str:
    """The photo's folder relative to the longest root holding it (the root's name for photos
    directly in it); the folder's own name when no root holds it."""
    parent = os.path.dirname(path)
    for root in sorted(roots, key=len, reverse=True):
        if parent == root or parent.startswith(root.rstrip("/") + "/"):
            relative = os.path.relpath(parent, root)
            return os.path.basename(root) if relative == "." else relative
    return os.path.basename(parent) or parent
