"""`min_score=auto`: a relevance cutoff that adapts to each query.

A fixed cosine threshold cannot work across queries: text→image similarities of a real CLIP
model sit around 0.2–0.35, image→image ones around 0.6–0.95, and both shift from query to
query. So the cutoff is read off the query's own scores. The *background* is the query's score
against a sample of the library (or every candidate of a filtered search): its median m and
robust spread s (1.4826 × MAD) say what an unrelated photo scores. Relevant photos stand out of
it as a tail. Among the top results scoring at least `m + TAIL_Z·s`, a gap between two
consecutive scores that is clearly wide (at least `MIN_GAP_Z·s`, `GAP_RATIO` times the median
gap there, and `OF_WIDEST` of the widest such gap, so that the sparse far tail of the background
does not count) separates one group of matches from what follows;
matches often come in groups (the same scene, then the same subject elsewhere), so the cutoff
sits in the middle of the lowest such gap. Without such a gap the cutoff is `m + FALLBACK_Z·s`,
a score an unrelated photo reaches about once in a thousand, but never above the best score: the
best match is always shown (a score distribution as wide as the demo's toy model's would
otherwise put the cutoff above every photo).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

TAIL_Z = 1.0
FALLBACK_Z = 3.0
MIN_GAP_Z = 0.3
GAP_RATIO = 4.0
OF_WIDEST = 0.3
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
    ranked = np.sort(np.asarray(top_scores, dtype=np.float64))[::-1]
    if ranked.size:
        fallback = min(fallback, float(ranked[0]))
    tail = ranked[ranked >= median + TAIL_Z * spread]
    if tail.size < 2:
        return fallback
    gaps = tail[:-1] - tail[1:]
    wide = (gaps >= MIN_GAP_Z * spread) & (gaps > GAP_RATIO * float(np.median(gaps)))
    if not wide.any():
        return fallback
    clear = np.flatnonzero(wide & (gaps >= OF_WIDEST * float(gaps[wide].max())))
    lowest = int(clear[-1])
    return float((tail[lowest] + tail[lowest + 1]) / 2)
