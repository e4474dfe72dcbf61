"""A damaged library database (truncated, not SQLite at all, garbage mid-file) is detected when
it is opened and reported in one line that says what to do, never a traceback."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import CliRunner, TinyModel


def _truncate(database: Path) -> None:
    with database.open("r+b") as fh:
        fh.truncate(database.stat().st_size // 2)


def _not_sqlite(database: Path) -> None:
    database.write_bytes(b"this is not a database\n" * 500)


def _garbage_mid_file(database: Path) -> None:
    with database.open("r+b") as fh:
        fh.seek(database.stat().st_size // 2 // 4096 * 4096)
        fh.write(os.urandom(4096))


@pytest.mark.parametrize(
    "damage", [_truncate, _not_sqlite, _garbage_mid_file], ids=["truncated", "not-sqlite", "mid"]
)
def test_a_damaged_database_is_reported_in_one_line_that_names_the_repair(
    cli: CliRunner,
    tiny_model: TinyModel,
    photo_dir: Path,
    data_dir: Path,
    damage: Callable[[Path], None],
) -> None:
    cli("index", str(photo_dir), *tiny_model.flags, "--no-tag")
    damage(data_dir / "library.sqlite3")

    for args in (("status",), ("search", "a photo"), ("index", str(photo_dir), "--json")):
        result = cli(*args, check=False)
        assert result.returncode != 0, args
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and "Traceback" not in result.stderr, (args, result.stderr)
        assert "damaged" in lines[0] and "searchapp doctor --repair" in lines[0], args
