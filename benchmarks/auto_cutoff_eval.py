"""How well `min_score=auto` separates relevant from irrelevant photos, against the best single
fixed threshold, on the demo world's ground truth (file names say shape and colour).

Text queries: "a <colour> <shape>" for every colour × shape; relevant: the library's photos of
that colour and shape. Image queries: the demo's held-out query photos (never in the library);
relevant: the same colour and shape. Prints JSON: mean precision, recall and F1 per query for
`auto`, and for the fixed threshold that maximises mean F1 (per query kind, and one threshold
for both kinds).

    python benchmarks/auto_cutoff_eval.py [--data-dir DIR]

Without --data-dir it runs `searchapp demo --no-ui` into ~/.cache/searchapp-bench/demo first.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from searchapp.config import Settings
from searchapp.demo.world import COLOURS, SHAPES
from searchapp.query import Query
from searchapp.search import SearchOptions
from searchapp.service import LibraryService

THRESHOLDS = np.round(np.arange(-0.2, 1.0001, 0.01), 2)


def kind_of(path: str) -> tuple[str, str]:
    colour, shape = Path(path).name.split("-")[:2]
    return colour, shape


def metrics(kept: Iterable[str], relevant: set[str]) -> tuple[float, float, float]:
    kept_set = set(kept)
    hits = len(kept_set & relevant)
    precision = hits / len(kept_set) if kept_set else 1.0
    recall = hits / len(relevant) if relevant else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def summary(rows: list[tuple[float, float, float]]) -> dict[str, float]:
    p, r, f = (float(np.mean([row[i] for row in rows])) for i in range(3))
    return {"precision": round(p, 3), "recall": round(r, 3), "f1": round(f, 3)}


def evaluate(data_dir: Path) -> dict[str, object]:
    demo_root = data_dir.parent
    library = sorted(str(p) for p in (demo_root / "photos").rglob("*.png"))
    queries: list[tuple[str, Query, set[str]]] = []
    for colour in COLOURS:
        for shape in SHAPES:
            relevant = {p for p in library if kind_of(p) == (colour, shape)}
            queries.append(("text", Query.text(f"a {colour} {shape}"), relevant))
    for path in sorted((demo_root / "query-photos").rglob("*.png")):
        relevant = {p for p in library if kind_of(p) == kind_of(str(path))}
        queries.append(("image", Query.image(path), relevant))

    auto: dict[str, list[tuple[float, float, float]]] = {"text": [], "image": []}
    scored: dict[str, list[tuple[dict[str, float], set[str]]]] = {"text": [], "image": []}
    cutoffs: dict[str, list[float]] = {"text": [], "image": []}
    with LibraryService(Settings(data_dir=data_dir)) as service:
        for kind, query, relevant in queries:
            response = service.search(query, options=SearchOptions(top_k=1000, min_score="auto"))
            auto[kind].append(metrics((hit.path for hit in response.results), relevant))
            assert response.cutoff is not None
            cutoffs[kind].append(response.cutoff)
            everything = service.search(query, options=SearchOptions(top_k=1000)).results
            scored[kind].append(({hit.path: hit.score for hit in everything}, relevant))

    def at(threshold: float, kinds: Iterable[str]) -> list[tuple[float, float, float]]:
        return [
            metrics((p for p, s in scores.items() if s >= threshold), relevant)
            for kind in kinds
            for scores, relevant in scored[kind]
        ]

    def best(kinds: tuple[str, ...]) -> dict[str, object]:
        threshold = max(THRESHOLDS, key=lambda t: float(np.mean([r[2] for r in at(t, kinds)])))
        result: dict[str, object] = {"threshold": float(threshold)}
        for kind in kinds:
            result[kind] = summary(at(float(threshold), (kind,)))
        return result

    return {
        "benchmark": "auto_cutoff_eval",
        "library_photos": len(library),
        "queries": {kind: len(rows) for kind, rows in auto.items()},
        "auto": {kind: summary(rows) for kind, rows in auto.items()},
        "auto_cutoff_range": {
            kind: [round(min(values), 3), round(max(values), 3)] for kind, values in cutoffs.items()
        },
        "best_fixed_text": best(("text",)),
        "best_fixed_image": best(("image",)),
        "best_fixed_one_for_both": best(("text", "image")),
    }


def demo_library() -> Path:
    from searchapp.demo.run import DemoPaths, run_demo

    settings = Settings(data_dir=Path.home() / ".cache" / "searchapp-bench" / "demo")
    run_demo(settings)
    return DemoPaths.under(settings.data_dir).library


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, help="a demo library (<demo>/library)")
    args = parser.parse_args()
    print(json.dumps(evaluate(args.data_dir or demo_library()), indent=2))


if __name__ == "__main__":
    main()
