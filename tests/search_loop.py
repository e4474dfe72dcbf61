"""A reader process for tests: one `SearchService`, searching in a loop while an indexer writes,
recording every error and when each path was first found. Once STOP exists (holding a number
N), it stops as soon as it has found N paths, or after DEADLINE seconds, and writes JSON to OUT.

    python -m tests.search_loop DATA_DIR OUT STOP
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from searchapp.config import Settings
from searchapp.errors import LibraryEmptyError
from searchapp.search import MAX_TOP_K, SearchOptions
from searchapp.service import LibraryService

DEADLINE = 120.0


def _done(stop: Path, found: int) -> bool:
    try:
        return found >= int(stop.read_text() or 0)
    except (OSError, ValueError):
        return False


def main(data_dir: Path, out: Path, stop: Path) -> None:
    deadline = time.monotonic() + DEADLINE
    service = LibraryService(Settings(data_dir=data_dir, precision="fp32"))
    errors: list[str] = []
    first_seen: dict[str, float] = {}
    refreshes: dict[str, int] = {}
    searches = 0
    while not _done(stop, len(first_seen)) and time.monotonic() < deadline:
        try:
            results = service.search("a photo", options=SearchOptions(top_k=MAX_TOP_K)).results
            searches += 1
            live = service.library.live_index(service.query_model()).last_refresh
            refreshes[live] = refreshes.get(live, 0) + 1
            now = time.time()
            for result in results:
                first_seen.setdefault(result.path, now)
        except LibraryEmptyError:
            time.sleep(0.05)  # the indexer has not committed its first batch yet
        except Exception as exc:
            errors.append(f"{type(exc).__name__}: {exc}")
    service.close()
    out.write_text(
        json.dumps(
            {
                "errors": errors,
                "searches": searches,
                "first_seen": first_seen,
                "refreshes": refreshes,
            }
        )
    )


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3]))
