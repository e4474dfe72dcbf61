"""`min_score=auto`: a relevance cutoff that adapts to each query.

A fixed cosine threshold cannot work across queries: text→image similarities of a real CLIP
model sit around 0.2–0.35, image→image ones around 0.6–0.95, and both shift from query to
query. So the cutoff is read off the query's own scores. The *background* is the query's score
against a sample of the library (or every candidate of a filtered search): its median m and
robust spread s (1.4826 × MAD) say what an unrelated photo scores. Relevant photos stand out of
it as a tail. Among the top results scoring at least `m + TAIL_Z·s`, the widest gap between two
consecutive scores separates the matches from the rest, when it is wide enough (`MIN_GAP_Z·s`
and larger than `GAP_RATIO` times the median gap there): the cutoff sits in that gap. Without
such a gap the cutoff is `m + FALLBACK_Z·s`.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

TAIL_Z = 3.0
FALLBACK_Z = 4.0
MIN_GAP_Z = 0.5
GAP_RATIO = 3.0
MAD_TO_SIGMA = 1.4826


def auto_cutoff(top_scores: NDArray[np.float32], background: NDArray[np.float32]) -> float:
    """The score a result needs under `min_score=auto`; `top_scores` are the best scores of the
    query (any order), `background` its scores over a sample of the library."""
    if background.size == 0:
        return float("-inf")
    median = float(np.median(background))
    spread = MAD_TO_SIGMA * float(np.median(np.abs(background - median)))
    spread = max(spread, 1e-6)
    fallback = median + FALLBACK_Z * spread
    tail = np.sort(np.asarray(top_scores, dtype=np.float64))[::-1]
    tail = tail[tail >= median + TAIL_Z * spread]
    if tail.size < 2:
        return fallback if tail.size == 0 else min(fallback, float(tail[0]))
    gaps = tail[:-1] - tail[1:]
    widest = int(np.argmax(gaps))
    typical = float(np.median(gaps))
    if gaps[widest] >= MIN_GAP_Z * spread and gaps[widest] > GAP_RATIO * typical:
        return float((tail[widest] + tail[widest + 1]) / 2)
    return fallback
