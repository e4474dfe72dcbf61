"""Re-indexing does only the work that changed files need."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import CliRunner, TinyModel
from tests.photos import make_photo


def _index(
    cli: CliRunner, folder: Path, *flags: str, env: dict[str, str] | None = None
) -> dict[str, Any]:
    result = cli("index", str(folder), *flags, "--json", env=env)
    summary: dict[str, Any] = json.loads(result.stdout)
    return summary


def _paths(cli: CliRunner) -> set[str]:
    return {r["path"] for r in json.loads(cli("search", "photo", "--json", "-k", "100").stdout)}


def test_first_run_embeds_every_photo(
    cli: CliRunner, tiny_model: TinyModel, photo_dir: Path
) -> None:
    summary = _index(cli, photo_dir, *tiny_model.flags)

    assert summary["embedded"] == 12
    assert summary["failed"] == []
    assert _paths(cli) == {str(p) for p in photo_dir.rglob("*.jpg")}


def test_rerun_on_unchanged_folder_does_no_model_work(
    cli: CliRunner, tiny_model: TinyModel, photo_dir: Path
) -> None:
    _index(cli, photo_dir, *tiny_model.flags)

    again = _index(cli, photo_dir)

    assert again["embedded"] == 0
    assert again["linked"] == 0
    assert again["unchanged"] == 12


def test_modified_file_is_re_embedded(
    cli: CliRunner, tiny_model: TinyModel, photo_dir: Path
) -> None:
    _index(cli, photo_dir, *tiny_model.flags)
    target = photo_dir / "photo_01.jpg"
    make_photo(target, seed=1234)
    os.utime(target, ns=(0, target.stat().st_mtime_ns + 1_000_000_000))

    summary = _index(cli, photo_dir)
    nearest = json.loads(cli("similar", str(target), "--json", "-k", "1").stdout)

    assert summary["embedded"] == 1
    assert nearest[0]["path"] == str(target)
    assert nearest[0]["score"] > 0.9999


def test_touched_but_identical_file_is_not_re_embedded(
    cli: CliRunner, tiny_model: TinyModel, photo_dir: Path
) -> None:
    _index(cli, photo_dir, *tiny_model.flags)
    target = photo_dir / "photo_02.jpg"
    os.utime(target, ns=(0, target.stat().st_mtime_ns + 5_000_000_000))

    summary = _index(cli, photo_dir)

    assert (summary["embedded"], summary["linked"]) == (0, 1)


def test_deleted_file_leaves_the_index(
    cli: CliRunner, tiny_model: TinyModel, photo_dir: Path
) -> None:
    _index(cli, photo_dir, *tiny_model.flags)
    gone = photo_dir / "photo_04.jpg"
    gone.unlink()

    summary = _index(cli, photo_dir)

    assert summary["removed"] == 1
    assert str(gone) not in _paths(cli)
    assert len(_paths(cli)) == 11


def test_moved_and_renamed_files_are_recognised_not_re_embedded(
    cli: CliRunner, tiny_model: TinyModel, photo_dir: Path
) -> None:
    _index(cli, photo_dir, *tiny_model.flags)
    moved = photo_dir / "archive" / "renamed.jpg"
    moved.parent.mkdir()
    shutil.move(photo_dir / "photo_05.jpg", moved)
    shutil.move(photo_dir / "trip", photo_dir / "holiday")

    summary = _index(cli, photo_dir)
    paths = _paths(cli)

    assert summary["embedded"] == 0
    assert summary["linked"] == 5
    assert summary["removed"] == 5
    assert str(moved) in paths and str(photo_dir / "photo_05.jpg") not in paths
    assert {p for p in paths if "/holiday/" in p} == {
        str(p) for p in (photo_dir / "holiday").glob("*.jpg")
    }


def test_duplicate_content_is_embedded_once_and_found_under_both_paths(
    cli: CliRunner, tiny_model: TinyModel, photo_dir: Path
) -> None:
    _index(cli, photo_dir, *tiny_model.flags)
    copy = photo_dir / "copy of photo_07.jpg"
    shutil.copy(photo_dir / "photo_07.jpg", copy)

    summary = _index(cli, photo_dir)
    results = json.loads(cli("similar", str(copy), "--json", "-k", "2").stdout)

    assert (summary["embedded"], summary["linked"]) == (0, 1)
    assert {r["path"] for r in results} == {str(copy), str(photo_dir / "photo_07.jpg")}


def test_indexing_a_second_folder_keeps_the_first(
    cli: CliRunner, tiny_model: TinyModel, photo_dir: Path, tmp_path: Path
) -> None:
    other = tmp_path / "other"
    make_photo(other / "extra.jpg", seed=77)
    _index(cli, photo_dir, *tiny_model.flags)

    _index(cli, other)

    assert len(_paths(cli)) == 13


def test_folder_that_cannot_be_listed_keeps_its_photos(
    cli: CliRunner,
    tiny_model: TinyModel,
    photo_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _index(cli, photo_dir, *tiny_model.flags)
    unlisted = photo_dir / "trip"
    real_scandir = os.scandir

    def scandir_failing_on_trip(path: Any = ".") -> Any:
        if os.fspath(path) == str(unlisted):
            raise PermissionError(13, "Permission denied", str(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir_failing_on_trip)
    summary = _index(cli, photo_dir)

    assert summary["removed"] == 0
    assert summary["skipped_folders"] == [str(unlisted)]
    assert len(_paths(cli)) == 12


def test_oversized_file_is_refused_before_it_is_read(
    cli: CliRunner, tiny_model: TinyModel, photo_dir: Path
) -> None:
    summary = _index(
        cli, photo_dir, *tiny_model.flags, env={"SEARCHAPP_MAX_FILE_MEGABYTES": "0.001"}
    )

    assert summary["embedded"] == 0
    assert len(summary["failed"]) == 12
    assert all("SEARCHAPP_MAX_FILE_MEGABYTES" in f["reason"] for f in summary["failed"])


def test_heic_photos_are_indexed_when_pillow_heif_is_installed(
    cli: CliRunner, tiny_model: TinyModel, tmp_path: Path
) -> None:
    pillow_heif = pytest.importorskip("pillow_heif")
    pillow_heif.register_heif_opener()
    folder = tmp_path / "phone"
    make_photo(folder / "IMG_0001.HEIC", seed=5)

    summary = _index(cli, folder, *tiny_model.flags)

    assert (summary["embedded"], summary["failed"]) == (1, [])
    assert _paths(cli) == {str(folder / "IMG_0001.HEIC")}
