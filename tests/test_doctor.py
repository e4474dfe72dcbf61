"""`searchapp doctor` says what is wrong with a library; `doctor --repair` rebuilds a damaged
vector index from the database, and a damaged database by indexing the folders again, keeping
the tag vocabularies and never touching a photo."""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path
from typing import Any

from searchapp.config import Settings
from searchapp.store import Store
from tests.conftest import CliResult, CliRunner, TinyModel


def _doctor(cli: CliRunner, *flags: str) -> tuple[CliResult, dict[str, Any]]:
    result = cli("doctor", *flags, "--json", check=False)
    report: dict[str, Any] = json.loads(result.stdout)
    return result, {f["part"]: f for f in report["findings"]} | {"healthy": report["healthy"]}


def _search_count(cli: CliRunner) -> int:
    return len(json.loads(cli("search", "a photo", "--json", "-k", "100").stdout))


def test_doctor_finds_nothing_wrong_with_a_sound_library(
    cli: CliRunner, tiny_model: TinyModel, photo_dir: Path
) -> None:
    cli("index", str(photo_dir), *tiny_model.flags, "--no-tag")

    result, found = _doctor(cli)

    assert result.returncode == 0 and found["healthy"]
    assert all(found[part]["ok"] for part in ("store", "index", "files", "model"))


def test_doctor_repair_rebuilds_a_damaged_vector_index(
    cli: CliRunner, tiny_model: TinyModel, photo_dir: Path, data_dir: Path
) -> None:
    cli("index", str(photo_dir), *tiny_model.flags, "--no-tag")
    largest = max(
        (p for p in (data_dir / "vectors").rglob("*") if p.is_file()), key=os.path.getsize
    )
    largest.write_bytes(os.urandom(largest.stat().st_size))

    checked, before = _doctor(cli)
    repaired, after = _doctor(cli, "--repair")
    again, healthy = _doctor(cli)

    assert checked.returncode == 1 and not before["index"]["ok"]
    assert repaired.returncode == 0 and after["index"]["repaired"]
    assert again.returncode == 0 and healthy["healthy"]


def _damage_the_embeddings_table(database: Path) -> None:
    conn = sqlite3.connect(database)
    root_page = conn.execute(
        "SELECT rootpage FROM sqlite_master WHERE type='table' AND name='embeddings'"
    ).fetchone()[0]
    page_size = conn.execute("PRAGMA page_size").fetchone()[0]
    conn.close()
    with database.open("r+b") as fh:
        fh.seek((root_page - 1) * page_size)
        fh.write(os.urandom(page_size))


def test_doctor_repair_rebuilds_a_damaged_database_keeping_vocabularies_and_photos(
    cli: CliRunner, tiny_model: TinyModel, photo_dir: Path, data_dir: Path, tmp_path: Path
) -> None:
    cli("index", str(photo_dir), *tiny_model.flags, "--no-tag")
    labels = tmp_path / "shapes.txt"
    labels.write_text("circle\nsquare\ntriangle\n")
    cli("tag", "--labels", str(labels))
    photos = sorted(photo_dir.rglob("*.jpg"))
    _damage_the_embeddings_table(data_dir / "library.sqlite3")

    checked, before = _doctor(cli)
    repaired, after = _doctor(cli, "--repair")

    assert checked.returncode == 1 and "damaged" in before["store"]["message"]
    assert repaired.returncode == 0, repaired.stdout + repaired.stderr
    assert "shapes" in after["store"]["repaired"]
    assert sorted(photo_dir.rglob("*.jpg")) == photos  # no photo deleted
    assert list(data_dir.glob("library.sqlite3.damaged-*"))
    assert _search_count(cli) == len(photos)
    store = Store(Settings(data_dir=data_dir).database_path)
    try:
        assert "shapes" in {v.name for v in store.tags.vocabularies()}
    finally:
        store.close()
