"""Searching from other processes while the background indexer writes: no errors (never
"database is locked"), and new photos show up in a long-running reader within seconds."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import BASE_ENV, TinyModel, run_searchapp
from tests.photos import make_photo
from tests.watching import IndexerProcess

SEEN_WITHIN_SECONDS = 30.0  # generous for a loaded CI machine; measured delays are in README


def test_a_reader_searching_in_a_loop_gets_answers_and_sees_new_photos(
    tiny_model: TinyModel, tmp_path: Path
) -> None:
    root = tmp_path / "photos"
    for i in range(10):
        make_photo(root / f"first_{i}.jpg", seed=i)
    data_dir = tmp_path / "data"
    indexer = IndexerProcess(data_dir, tiny_model, [root])
    indexer.wait_idle()
    out, stop = tmp_path / "reader.json", tmp_path / "stop"
    env = {**os.environ, **BASE_ENV}
    reader = subprocess.Popen(
        [sys.executable, "-m", "tests.search_loop", str(data_dir), str(out), str(stop)], env=env
    )
    written: dict[str, float] = {}
    cli_searches = []

    for burst in range(4):
        for i in range(30):
            photo = make_photo(root / f"burst{burst}" / f"p{i:02d}.jpg", seed=100 + 30 * burst + i)
            written[str(photo)] = time.time()
        cli_searches.append(run_searchapp(data_dir, "search", "a photo", "--json", "-k", "500"))
    indexer.wait_for(lambda: len(indexer.ok_paths(root)) == 130, "every photo")
    indexer.wait_idle()
    stop.write_text("130")  # the reader stops once it has found them all
    assert reader.wait(180) == 0
    assert indexer.stop() == 0
    report = json.loads(out.read_text())
    delays = [report["first_seen"][path] - at for path, at in written.items()]

    assert report["errors"] == []
    assert set(written) <= set(report["first_seen"])
    assert max(delays) < SEEN_WITHIN_SECONDS
    assert report["refreshes"].get("added", 0) >= 1  # followed by adding rows, not rebuilding
    for result in cli_searches:
        assert result.returncode == 0, result.stderr
        assert "locked" not in result.stderr
