"""Training the IVF-SQ8 index fast on few cores: two-level spherical k-means.

A flat k-means into `nlist` lists costs sample × nlist × dim per iteration: at a million photos
(4,096 lists, 164k training points, 10 iterations) that alone took 5 minutes of a build on two
busy cores. Here √nlist coarse centroids are trained first, then each coarse cluster's points
are split into its share of the lists (proportional to its size), so an iteration costs
sample × 2√nlist × dim. Every vector is then assigned to its nearest list exactly (faiss's
flat quantizer). The lists' codes are 8-bit scalar quantisations of the vectors themselves, not
of residuals (no training pass over the lists; candidates are re-ranked exactly anyway).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
from numpy.typing import NDArray

KMEANS_ITERATIONS = 10
ADD_CHUNK = 50_000
Progress = Callable[[str, int, int], None]


def _kmeans(points: NDArray[np.float32], k: int, seed: int) -> NDArray[np.float32]:
    """k unit centroids of `points` (spherical k-means); the points themselves when too few."""
    import faiss

    if len(points) <= k:
        picked = points[np.arange(k) % max(len(points), 1)]
        return np.ascontiguousarray(picked, dtype=np.float32)
    km = faiss.Kmeans(
        points.shape[1], k, niter=KMEANS_ITERATIONS, spherical=True, seed=seed, verbose=False
    )
    km.cp.min_points_per_centroid = 1  # a small cluster's share of lists is fine to train
    km.train(points)
    return np.ascontiguousarray(km.centroids, dtype=np.float32)


def _shares(sizes: NDArray[np.int64], total: int) -> NDArray[np.int64]:
    """`total` lists split over clusters in proportion to their sizes (summing to `total`)."""
    bounds = np.cumsum(sizes) * total // max(int(sizes.sum()), 1)
    shares: NDArray[np.int64] = np.diff(bounds, prepend=0).astype(np.int64)
    return shares


@contextlib.contextmanager
def _one_thread() -> Iterator[None]:
    """faiss on one thread: small clusterings on a busy machine spend most of their time in
    OpenMP's barriers otherwise (measured 3.7× slower on two shared cores)."""
    import faiss

    threads = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    try:
        yield
    finally:
        faiss.omp_set_num_threads(threads)


class TwoLevelCentroids:
    """Coarse centroids, the fine centroids (the IVF lists), and which fine ones each coarse
    cluster owns."""

    def __init__(self, sample: NDArray[np.float32], nlist: int) -> None:
        coarse_count = max(2, min(nlist, 2 ** round(math.log2(math.sqrt(nlist)))))
        self.coarse = _kmeans(sample, coarse_count, seed=1)
        nearest = np.argmax(sample @ self.coarse.T, axis=1)
        shares = _shares(np.bincount(nearest, minlength=coarse_count), nlist)
        fine: list[NDArray[np.float32]] = []
        self.owned: list[NDArray[np.int64]] = []
        with _one_thread():
            for cluster, share in enumerate(shares.tolist()):
                start = sum(len(f) for f in fine)
                if share:
                    fine.append(_kmeans(sample[nearest == cluster], share, seed=2 + cluster))
                self.owned.append(np.arange(start, start + share, dtype=np.int64))
        self.fine = np.ascontiguousarray(np.concatenate(fine), dtype=np.float32)


def train_ivf_sq8(
    vectors: NDArray[np.float32],
    ids: NDArray[np.int64],
    nlist: int,
    sample_size: int,
    progress: Progress | None = None,
) -> Any:
    """An IVF-SQ8 inner-product index over `vectors` (rows) with ids `ids`."""
    import faiss

    dim = vectors.shape[1]
    rng = np.random.default_rng(0)
    chosen = np.sort(rng.choice(len(ids), min(len(ids), sample_size), replace=False))
    sample = np.ascontiguousarray(vectors[chosen], dtype=np.float32)
    if progress:
        progress("training", 0, len(ids))
    centroids = TwoLevelCentroids(sample, nlist)
    quantizer = faiss.IndexFlatIP(dim)
    quantizer.add(centroids.fine)
    index = faiss.IndexIVFScalarQuantizer(
        quantizer, dim, nlist, faiss.ScalarQuantizer.QT_8bit, faiss.METRIC_INNER_PRODUCT
    )
    index.by_residual = False
    index.train(sample)  # the quantizer is trained already: this fits the 8-bit ranges
    for start in range(0, len(ids), ADD_CHUNK):
        block = np.ascontiguousarray(vectors[start : start + ADD_CHUNK], dtype=np.float32)
        index.add_with_ids(block, np.ascontiguousarray(ids[start : start + ADD_CHUNK]))
        if progress:
            progress("adding", min(start + ADD_CHUNK, len(ids)), len(ids))
    return index
