"""The vector index on disk proves it belongs to its store: an index of another library, of a
restored backup, or with damaged bytes is never served; it is rebuilt from SQLite and the file
replaced. Scores outside [-1, 1] never reach a user."""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path
from typing import Any

import pytest

from searchapp.config import Settings
from searchapp.file_stamps import RACY_SECONDS
from searchapp.store import Store
from searchapp.vector_base import VECTORS_FILE
from searchapp.vector_file import MANIFEST_FILE, file_checksum, read_manifest
from tests.conftest import CliRunner, TinyModel
from tests.photos import make_photo


def _search(cli: CliRunner, *args: str) -> list[dict[str, Any]]:
    results: list[dict[str, Any]] = json.loads(cli(*args, "--json", "-k", "100").stdout)
    return results


def _library_id(data_dir: Path) -> str:
    store = Store(Settings(data_dir=data_dir).database_path)
    try:
        return store.library_id()
    finally:
        store.close()


def _rows_file(data_dir: Path) -> Path:
    manifest = read_manifest(data_dir / "vectors")
    assert manifest is not None
    return data_dir / "vectors" / manifest.base / VECTORS_FILE


def _other_folder(root: Path) -> Path:
    for i in range(5):
        make_photo(root / f"other_{i}.jpg", seed=900 + i)
    return root


def test_a_new_database_beside_the_old_vector_index_never_serves_the_old_vectors(
    cli: CliRunner, tiny_model: TinyModel, photo_dir: Path, data_dir: Path, tmp_path: Path
) -> None:
    cli("index", str(photo_dir), *tiny_model.flags)
    for leftover in data_dir.glob("library.sqlite3*"):
        leftover.unlink()  # "starting over", the vectors/ folder kept
    other = _other_folder(tmp_path / "other")
    cli("index", str(other), *tiny_model.flags)

    target = other / "other_3.jpg"
    found = _search(cli, "similar", str(target))
    texts = _search(cli, "search", "a photo")

    assert found[0]["path"] == str(target) and found[0]["score"] == pytest.approx(1.0, abs=1e-4)
    assert {r["path"] for r in found} == {str(p) for p in other.glob("*.jpg")}
    assert {r["path"] for r in texts} == {str(p) for p in other.glob("*.jpg")}
    manifest = read_manifest(data_dir / "vectors")
    assert manifest is not None and manifest.library_id == _library_id(data_dir)
    assert manifest.count == 5


def test_garbage_in_the_index_file_is_rebuilt_and_the_file_rewritten(
    cli: CliRunner,
    tiny_model: TinyModel,
    photo_dir: Path,
    data_dir: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    cli("index", str(photo_dir), *tiny_model.flags)
    index_file = _rows_file(data_dir)
    size = index_file.stat().st_size
    with index_file.open("r+b") as fh:
        fh.seek(size // 3)
        fh.write(os.urandom(min(4096, size // 2)))
    assert index_file.stat().st_size == size

    with caplog.at_level("WARNING", logger="searchapp.vector_file"):
        results = _search(cli, "search", "a photo")
    manifest = read_manifest(data_dir / "vectors")

    assert "fails its checksum" in caplog.text
    assert len(results) == 12 and all(-1.0 <= r["score"] <= 1.0 for r in results)
    assert manifest is not None and manifest.checksums is not None
    assert file_checksum(_rows_file(data_dir)) == manifest.checksums[VECTORS_FILE]
    caplog.clear()
    with caplog.at_level("INFO"):
        assert len(_search(cli, "search", "a photo")) == 12
    assert "rebuilding" not in caplog.text and "building" not in caplog.text  # rewritten


def test_a_restored_database_backup_beside_newer_vectors_is_rebuilt(
    cli: CliRunner, tiny_model: TinyModel, photo_dir: Path, data_dir: Path, tmp_path: Path
) -> None:
    cli("index", str(photo_dir), *tiny_model.flags)
    backup = tmp_path / "backup.sqlite3"
    shutil.copy(data_dir / "library.sqlite3", backup)
    newer = [make_photo(photo_dir / "newer" / f"n{i}.jpg", seed=700 + i) for i in range(3)]
    cli("index", str(photo_dir))
    assert len(_search(cli, "search", "a photo")) == 15
    shutil.copy(backup, data_dir / "library.sqlite3")
    for newer_photo in newer:
        newer_photo.unlink()
    later = make_photo(photo_dir / "later.jpg", seed=800)  # reuses an id the stale index holds
    cli("index", str(photo_dir))

    found = _search(cli, "similar", str(later))

    assert found[0]["path"] == str(later) and found[0]["score"] == pytest.approx(1.0, abs=1e-4)
    assert {r["path"] for r in found} == {str(p) for p in photo_dir.rglob("*.jpg")}


def test_impossible_scores_from_a_sound_looking_index_never_reach_the_user(
    cli: CliRunner, tiny_model: TinyModel, photo_dir: Path, data_dir: Path
) -> None:
    import numpy as np

    cli("index", str(photo_dir), *tiny_model.flags)
    vectors_dir = data_dir / "vectors"
    rows = _rows_file(data_dir)
    forged = np.full(rows.stat().st_size // 4, 1e18, dtype=np.float32)
    rows.write_bytes(forged.tobytes())
    manifest = json.loads((vectors_dir / MANIFEST_FILE).read_text())
    manifest["checksums"][VECTORS_FILE] = file_checksum(rows)
    (vectors_dir / MANIFEST_FILE).write_text(json.dumps(manifest))

    results = _search(cli, "search", "a photo")

    assert len(results) == 12
    assert all(-1.0 <= r["score"] <= 1.0 for r in results)


def test_damage_after_the_checksums_were_remembered_is_still_found(
    cli: CliRunner,
    tiny_model: TinyModel,
    photo_dir: Path,
    data_dir: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    cli("index", str(photo_dir), *tiny_model.flags)
    time.sleep(RACY_SECONDS + 0.1)  # older than the racy window: the next query stamps them
    assert len(_search(cli, "search", "a photo")) == 12
    stamps = list((Settings().cache_dir / "verified").glob("vectors-*.json"))
    assert any(str(_rows_file(data_dir)) in path.read_text() for path in stamps)
    index_file = _rows_file(data_dir)
    size = index_file.stat().st_size
    with index_file.open("r+b") as fh:
        fh.write(os.urandom(min(4096, size // 2)))

    with caplog.at_level("WARNING", logger="searchapp.vector_file"):
        results = _search(cli, "search", "a photo")

    assert "fails its checksum" in caplog.text
    assert len(results) == 12 and all(-1.0 <= r["score"] <= 1.0 for r in results)
