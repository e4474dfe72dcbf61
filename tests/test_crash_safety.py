"""The background indexer killed with SIGKILL at several points, restarted each time, ends with
every valid photo indexed exactly once and a vector index that agrees with the store; SIGTERM
finishes the batch in flight and exits cleanly."""

from __future__ import annotations

import shutil
import signal
from pathlib import Path

from searchapp.store import Store
from tests.conftest import TinyModel
from tests.photos import make_photo
from tests.watching import IndexerProcess, assert_consistent, assert_matches_folder


def _library(root: Path, count: int) -> list[Path]:
    """`count` distinct photos in three folders, one duplicate, and one corrupt file."""
    photos = [make_photo(root / f"roll{i % 3}" / f"p{i:03d}.jpg", seed=i) for i in range(count)]
    duplicate = root / "copy of p000.jpg"
    shutil.copy(photos[0], duplicate)
    (root / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    return [*photos, duplicate]


def _ok_count(indexer: IndexerProcess, root: Path) -> int:
    return len(indexer.ok_paths(root))


def test_sigkill_at_several_points_then_restart_loses_nothing_and_duplicates_nothing(
    tiny_model: TinyModel, tmp_path: Path
) -> None:
    root = tmp_path / "photos"
    valid = _library(root, 90)
    data_dir = tmp_path / "data"
    slow = ("--batch-size", "2")
    counts_at_kill = []

    def run_until(enough: int) -> None:
        indexer = IndexerProcess(data_dir, tiny_model, [root], *slow)
        indexer.wait_for(lambda: _ok_count(indexer, root) >= enough, f"{enough} photos")
        counts_at_kill.append(_ok_count(indexer, root))
        indexer.kill()
        assert_consistent(data_dir)

    starting = IndexerProcess(data_dir, tiny_model, [root], *slow)  # killed before any batch
    starting.wait_for(lambda: starting.store.indexer_status.read() is not None, "the start")
    starting.kill()
    assert_consistent(data_dir)
    run_until(1)  # right after the first batch
    run_until(counts_at_kill[-1] + 30)  # in the middle of the run
    moving = IndexerProcess(data_dir, tiny_model, [root], *slow)  # while live changes go in
    moving.wait_idle()
    (root / "roll1").rename(root / "roll one")
    for gone in sorted((root / "roll2").glob("*.jpg"))[:5]:
        gone.unlink()
    fresh = [make_photo(root / "new" / f"n{i}.jpg", seed=500 + i) for i in range(20)]
    moving.wait_for(lambda: _ok_count(moving, root / "new") >= 2, "the first new photos")
    moving.kill()
    assert_consistent(data_dir)

    final = IndexerProcess(data_dir, tiny_model, [root])
    final.wait_idle()
    failed = {p for p, known in final.files(root).items() if known.status == "failed"}
    assert final.stop() == 0
    valid = sorted(p for p in [*valid, *fresh] if p.exists())
    valid += sorted((root / "roll one").glob("*.jpg"))
    assert_matches_folder(data_dir, root, valid)
    assert_consistent(data_dir)
    assert failed == {str(root / "broken.jpg")}
    assert counts_at_kill[-1] < 91  # the kills did land during the run


def test_sigterm_during_a_batch_finishes_it_and_exits_cleanly(
    tiny_model: TinyModel, tmp_path: Path
) -> None:
    root = tmp_path / "photos"
    valid = _library(root, 150)
    data_dir = tmp_path / "data"
    indexer = IndexerProcess(data_dir, tiny_model, [root], "--batch-size", "1")
    indexer.wait_for(lambda: _ok_count(indexer, root) >= 5, "the first batches")

    indexer.signal(signal.SIGTERM)
    returncode = indexer.wait(60)

    assert returncode == 0, indexer.log()[-4000:]
    assert "stopping after the batch in flight" in indexer.log()
    assert "Traceback" not in indexer.log()
    assert_consistent(data_dir)
    store = Store(data_dir / "library.sqlite3")
    stopped = store.indexer_status.read()
    store.close()
    assert stopped is not None and stopped.state == "stopped"
    restarted = IndexerProcess(data_dir, tiny_model, [root])
    restarted.wait_idle()
    assert restarted.stop() == 0
    assert_matches_folder(data_dir, root, valid)
