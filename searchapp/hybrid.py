"""Reciprocal rank fusion: one ranking from several (CLIP similarity, caption full-text match).

Each list contributes `1 / (k + rank)` for every item it ranks (rank 1 is its best); items are
ordered by the sum. Scores of different kinds (cosine, BM25) are never compared, only ranks, so a
photo ranked first by its caption's rare word rises to the top even when CLIP ranks it low. k = 60
is the constant of Cormack, Clarke and Büttcher (SIGIR 2009)."""

from __future__ import annotations

from collections.abc import Sequence

RRF_K = 60


def reciprocal_rank_fusion(
    rankings: Sequence[Sequence[int]], k: int = RRF_K
) -> list[tuple[int, float]]:
    """(item, fused score), best first; ties go to the item ranked better in an earlier list."""
    scores: dict[int, float] = {}
    first_seen: dict[int, tuple[int, int]] = {}
    for list_index, ranking in enumerate(rankings):
        for rank, item in enumerate(ranking, start=1):
            scores[item] = scores.get(item, 0.0) + 1.0 / (k + rank)
            first_seen.setdefault(item, (list_index, rank))
    return sorted(scores.items(), key=lambda pair: (-pair[1], first_seen[pair[0]]))
