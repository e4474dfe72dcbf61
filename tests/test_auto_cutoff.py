"""`min_score=auto`: the cutoff sits in a clear gap above the query's background scores, else at
median + 3 robust deviations; every result scores at least the reported cutoff."""

from __future__ import annotations

import numpy as np

from searchapp.cutoff import FALLBACK_Z, MAD_TO_SIGMA, auto_cutoff
from searchapp.search import SearchOptions
from tests.search_library import SearchLibrary, search_library

__all__ = ["search_library"]


def background(rng: np.random.Generator, n: int = 5000) -> np.ndarray:
    return rng.normal(0.20, 0.03, n).astype(np.float32)


def test_the_cutoff_sits_in_the_gap_between_matches_and_the_rest() -> None:
    rng = np.random.default_rng(0)
    rest = background(rng)
    matches = rng.uniform(0.34, 0.37, 12).astype(np.float32)
    top = np.sort(np.concatenate([matches, rest]))[::-1][:256]

    cutoff = auto_cutoff(top, rest)

    assert rest.max() < cutoff < matches.min()


def test_matches_in_groups_are_all_kept() -> None:
    rng = np.random.default_rng(1)
    rest = background(rng)
    same_scene = rng.uniform(0.40, 0.41, 4).astype(np.float32)
    same_subject = rng.uniform(0.34, 0.35, 8).astype(np.float32)
    top = np.sort(np.concatenate([same_scene, same_subject, rest]))[::-1][:256]

    cutoff = auto_cutoff(top, rest)

    assert rest.max() < cutoff < same_subject.min()


def test_without_a_clear_gap_the_cutoff_is_three_robust_deviations_up() -> None:
    rest = background(np.random.default_rng(2))
    top = np.sort(rest)[::-1][:256]
    median = float(np.median(rest))
    spread = MAD_TO_SIGMA * float(np.median(np.abs(rest - median)))

    cutoff = auto_cutoff(top, rest)

    assert abs(cutoff - (median + FALLBACK_Z * spread)) < 1e-6


def test_auto_results_all_reach_the_reported_cutoff(search_library: SearchLibrary) -> None:
    service = search_library.service
    every = service.search("a red square", options=SearchOptions(top_k=100)).results

    auto = service.search("a red square", options=SearchOptions(top_k=100, min_score="auto"))

    assert auto.cutoff is not None
    assert [r.path for r in auto.results] == [r.path for r in every if r.score >= auto.cutoff]


def test_the_best_result_always_passes_the_cutoff() -> None:
    wide = np.random.default_rng(3).normal(0.1, 0.35, 300).clip(-1, 0.8).astype(np.float32)

    cutoff = auto_cutoff(np.sort(wide)[::-1][:256], wide)

    assert cutoff <= wide.max()
