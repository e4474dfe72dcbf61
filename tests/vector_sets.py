"""Generated libraries of vectors written through the real Store, for vector-index tests: unit
vectors clustered like real embeddings (photos of one event lie close together)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from searchapp.models.base import ModelIdentity
from searchapp.store import EmbeddedFile, ImageMeta, Store, StoredModel
from searchapp.store.records import FileStat


def clustered(n: int, dim: int, seed: int = 0, clusters: int = 40) -> NDArray[np.float32]:
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((clusters, dim)).astype(np.float32)
    which = rng.integers(0, clusters, n)
    vectors = centres[which] + 0.5 * rng.standard_normal((n, dim)).astype(np.float32)
    return (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)


def vector_model(store: Store, dim: int) -> StoredModel:
    identity = ModelIdentity("open_clip", "generated", "test-vectors", "0" * 64)
    model = store.register_model(identity, None, None, dim)
    store.activate_model(model.id)
    return model


def path_of(i: int) -> str:
    return f"/library/photo_{i:06d}.jpg"


def add_vectors(
    store: Store, model: StoredModel, vectors: NDArray[np.float32], first: int = 0
) -> None:
    """One file per vector, `/library/photo_NNNNNN.jpg`, numbered from `first`."""
    for start in range(0, len(vectors), 500):
        batch = [
            EmbeddedFile(
                FileStat(path_of(first + start + j), 1, 1),
                f"{first + start + j:040x}",
                ImageMeta(640, 480),
                vector,
            )
            for j, vector in enumerate(vectors[start : start + 500])
        ]
        store.write_batch(model.id, batch)


def stored(store: Store, model: StoredModel) -> tuple[NDArray[np.int64], NDArray[np.float32]]:
    pages = list(store.vectors.iter_vectors(model.id, model.dim))
    return np.concatenate([p[0] for p in pages]), np.concatenate([p[1] for p in pages])


def exact_top_k(
    queries: NDArray[np.float32],
    ids: NDArray[np.int64],
    vectors: NDArray[np.float32],
    k: int,
    allowed: Sequence[int] | None = None,
) -> list[list[int]]:
    """Brute force: filter, then rank by inner product (ties by id)."""
    if allowed is not None:
        keep = np.isin(ids, np.asarray(allowed))
        ids, vectors = ids[keep], vectors[keep]
    scores = queries @ vectors.T
    return [[int(ids[j]) for j in np.lexsort((ids, -row))[:k]] for row in scores]
