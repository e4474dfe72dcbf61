"""File names are bytes on POSIX: a photo named with bytes that are not UTF-8 (old archives from
FAT or Samba shares) is indexed, kept apart from a file literally named with the escape, shown
escaped in valid UTF-8 output with its exact bytes beside, found by `similar`, and forgotten when
it goes. Real files on the real file system, the real CLI in a subprocess."""

from __future__ import annotations

import base64
import json
import os
import re
import sqlite3
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from searchapp.file_names import path_from_shown, printable_message, shown_path
from tests.conftest import CliResult, TinyModel, run_searchapp
from tests.photos import make_photo

LATIN1_NAME = b"caf\xe9.jpg"  # "café" as Latin-1: not UTF-8
LOOKALIKE_NAME = b"caf\\xe9.jpg"  # a valid name, literally backslash-x-e-9


@dataclass(frozen=True)
class TwoNames:
    root: Path
    latin1: str  # the program's str for the path (the bad byte as a surrogate)
    lookalike: str
    data_dir: Path


def _write_photo(path: str, seed: int) -> None:
    make_photo(Path(path), seed=seed)


def _ok(result: CliResult) -> CliResult:
    assert result.returncode == 0, f"exit {result.returncode}\n{result.stdout}\n{result.stderr}"
    assert "Traceback" not in result.stderr
    return result


@pytest.fixture(scope="module")
def two_names(tmp_path_factory: pytest.TempPathFactory, tiny_model: TinyModel) -> TwoNames:
    base = tmp_path_factory.mktemp("names")
    root = base / "photos"
    root.mkdir()
    latin1 = os.fsdecode(os.path.join(os.fsencode(root), LATIN1_NAME))
    lookalike = os.fsdecode(os.path.join(os.fsencode(root), LOOKALIKE_NAME))
    try:
        _write_photo(latin1, seed=1)
    except OSError:
        pytest.skip("this file system only takes UTF-8 names")
    _write_photo(lookalike, seed=2)
    make_photo(root / "plain.jpg", seed=3)
    data_dir = base / "data"
    _ok(run_searchapp(data_dir, "index", str(root), *tiny_model.flags))
    return TwoNames(root, latin1, lookalike, data_dir)


def _search_json(data_dir: Path, *args: str) -> list[dict[str, object]]:
    result = _ok(run_searchapp(data_dir, *args, "--json", "-k", "10"))  # stdout decoded as UTF-8
    return list(json.loads(result.stdout))


def test_a_non_utf8_name_and_its_lookalike_are_two_rows(two_names: TwoNames) -> None:
    with sqlite3.connect(two_names.data_dir / "library.sqlite3") as conn:
        rows = conn.execute("SELECT path, status FROM files ORDER BY path").fetchall()

    shown_root = str(two_names.root)
    assert rows == [
        (f"{shown_root}/caf\\\\xe9.jpg", "ok"),
        (f"{shown_root}/caf\\xe9.jpg", "ok"),
        (f"{shown_root}/plain.jpg", "ok"),
    ]


def test_json_shows_each_name_escaped_and_distinct_with_its_exact_bytes(
    two_names: TwoNames,
) -> None:
    results = _search_json(two_names.data_dir, "search", "a photo")

    by_shown = {str(r["path"]): base64.b64decode(str(r["path_bytes"])) for r in results}
    root = str(two_names.root)
    assert by_shown == {
        f"{root}/caf\\xe9.jpg": os.fsencode(two_names.root) + b"/" + LATIN1_NAME,
        f"{root}/caf\\\\xe9.jpg": os.fsencode(two_names.root) + b"/" + LOOKALIKE_NAME,
        f"{root}/plain.jpg": os.fsencode(two_names.root) + b"/plain.jpg",
    }


def test_the_results_table_shows_the_two_names_apart(two_names: TwoNames) -> None:
    table = _ok(run_searchapp(two_names.data_dir, "search", "a photo", "-k", "10")).stdout

    assert re.search(r"caf\\xe9\.jpg", table)  # the byte, escaped
    assert re.search(r"caf\\\\xe9\.jpg", table)  # the lookalike, its backslash doubled


def test_a_rerun_finds_both_names_unchanged(two_names: TwoNames) -> None:
    again = _ok(run_searchapp(two_names.data_dir, "index", str(two_names.root))).stdout

    assert "unchanged 3" in again and "0 embedded" in again and "failed 0" in again, again


def test_similar_with_a_non_utf8_path_finds_that_photo_first(two_names: TwoNames) -> None:
    results = _search_json(two_names.data_dir, "similar", two_names.latin1)

    assert base64.b64decode(str(results[0]["path_bytes"])) == os.fsencode(two_names.latin1)
    assert float(str(results[0]["score"])) > 0.999


def test_info_on_a_non_utf8_path_shows_it_escaped(two_names: TwoNames) -> None:
    result = _ok(run_searchapp(two_names.data_dir, "info", two_names.latin1, "--json"))

    details = json.loads(result.stdout)
    assert details["path"] == f"{two_names.root}/caf\\xe9.jpg"
    assert base64.b64decode(details["path_bytes"]) == os.fsencode(two_names.latin1)


def test_a_missing_non_utf8_path_is_one_escaped_line(two_names: TwoNames) -> None:
    gone = os.fsdecode(os.fsencode(two_names.root) + b"/gone\xff.jpg")

    result = run_searchapp(two_names.data_dir, "index", gone)

    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert "gone\\xff.jpg" in result.stderr


def test_a_deleted_non_utf8_photo_leaves_the_library_and_its_lookalike_stays(
    tmp_path: Path, tiny_model: TinyModel
) -> None:
    root = tmp_path / "photos"
    root.mkdir()
    latin1 = os.fsdecode(os.fsencode(root) + b"/" + LATIN1_NAME)
    lookalike = os.fsdecode(os.fsencode(root) + b"/" + LOOKALIKE_NAME)
    try:
        _write_photo(latin1, seed=4)
    except OSError:
        pytest.skip("this file system only takes UTF-8 names")
    _write_photo(lookalike, seed=5)
    data_dir = tmp_path / "data"
    _ok(run_searchapp(data_dir, "index", str(root), *tiny_model.flags))

    os.unlink(latin1)
    rerun = _ok(run_searchapp(data_dir, "index", str(root))).stdout
    left = _search_json(data_dir, "search", "a photo")

    assert "removed 1" in rerun, rerun
    assert [base64.b64decode(str(r["path_bytes"])) for r in left] == [os.fsencode(lookalike)]


# -- the shown form ----------------------------------------------------------------------------

names = st.binary(min_size=1, max_size=24).filter(lambda b: b"/" not in b and b"\x00" not in b)


@given(names)
def test_the_shown_form_is_valid_utf8_and_gives_back_the_exact_bytes(name: bytes) -> None:
    path = os.fsdecode(name)

    shown = shown_path(path)

    shown.encode("utf-8")  # never raises: safe for SQLite TEXT, PostgreSQL, JSON and terminals
    assert os.fsencode(path_from_shown(shown)) == name


@given(names, names)
def test_two_different_names_never_share_a_shown_form(first: bytes, second: bytes) -> None:
    if first != second:
        assert shown_path(os.fsdecode(first)) != shown_path(os.fsdecode(second))


def test_ordinary_names_are_shown_as_they_are() -> None:
    assert shown_path("/photos/été 2021/plage ☀.jpg") == "/photos/été 2021/plage ☀.jpg"


def test_a_message_quoting_a_non_utf8_path_prints() -> None:
    message = f"No such file or folder: {os.fsdecode(b'/x/caf' + bytes([0xE9]))}"

    assert printable_message(message) == "No such file or folder: /x/caf\\xe9"
