"""Camera RAW through rawpy (the `[raw]` extra): a real DNG (written by `tests.dng`) is indexed
upright with its capture time and camera; a RAW beside a JPEG or HEIC of the same name is left
to it; a damaged RAW is one failed file; without rawpy RAWs are listed by `status` with the line
that says what to install, and the rest of the run goes on."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import CliRunner, TinyModel
from tests.dng import write_dng
from tests.photos import make_photo

pytest.importorskip("rawpy")


def _index(cli: CliRunner, root: Path, tiny_model: TinyModel) -> dict[str, object]:
    summary = cli("index", str(root), *tiny_model.flags, "--no-tag", "--json").stdout
    return dict(json.loads(summary))


def _found(cli: CliRunner) -> dict[str, dict[str, object]]:
    results = json.loads(cli("search", "a photo", "--json", "-k", "50").stdout)
    return {str(r["path"]): r for r in results}


def test_a_dng_is_indexed_upright_with_its_capture_time_and_camera(
    cli: CliRunner, tiny_model: TinyModel, tmp_path: Path
) -> None:
    dng = write_dng(tmp_path / "raw" / "IMG_0001.dng", seed=1, orientation=6)  # 96x72, 90° CW

    summary = _index(cli, dng.parent, tiny_model)
    found = _found(cli)[str(dng)]

    assert summary["failed"] == [] and summary["embedded"] == 1
    assert (found["width"], found["height"]) == (72, 96)
    assert found["captured_at"] == "2021-07-04T10:30:00"
    assert found["camera"] == "Testcam One"


def test_a_raw_beside_a_jpeg_or_heic_of_the_same_name_is_left_to_it(
    cli: CliRunner, tiny_model: TinyModel, tmp_path: Path
) -> None:
    root = tmp_path / "camera"
    jpeg = make_photo(root / "DSC_0001.JPG", seed=2)
    write_dng(root / "DSC_0001.dng", seed=2)  # its JPEG stands for it (any case)
    (root / "DSC_0002.heic").write_bytes(b"")  # a sibling need not be readable to count
    write_dng(root / "dsc_0002.DNG", seed=3)
    alone = write_dng(root / "DSC_0003.dng", seed=4)

    summary = _index(cli, root, tiny_model)

    assert set(_found(cli)) == {str(jpeg), str(alone)}
    assert [f["path"] for f in summary["failed"]] == [str(root / "DSC_0002.heic")]  # type: ignore[attr-defined]


def test_a_damaged_raw_is_one_failed_file_with_its_reason(
    cli: CliRunner, tiny_model: TinyModel, tmp_path: Path
) -> None:
    root = tmp_path / "camera"
    good = make_photo(root / "good.jpg", seed=5)
    (root / "broken.nef").write_bytes(b"II*\x00" + b"\x00" * 200)

    summary = _index(cli, root, tiny_model)

    assert set(_found(cli)) == {str(good)}
    failed = summary["failed"]
    assert isinstance(failed, list) and len(failed) == 1
    assert failed[0]["path"] == str(root / "broken.nef")
    assert failed[0]["reason"].startswith("unreadable camera RAW")


def test_similar_takes_a_raw_query_photo(
    cli: CliRunner, tiny_model: TinyModel, tmp_path: Path
) -> None:
    dng = write_dng(tmp_path / "raw" / "IMG_0002.dng", seed=6)
    make_photo(tmp_path / "raw" / "other.jpg", seed=7)
    _index(cli, dng.parent, tiny_model)

    results = json.loads(cli("similar", str(dng), "--json").stdout)

    assert results[0]["path"] == str(dng) and results[0]["score"] > 0.999


@pytest.mark.usefixtures("without_rawpy")
def test_without_rawpy_status_lists_the_raws_with_what_to_install(
    cli: CliRunner, tiny_model: TinyModel, tmp_path: Path
) -> None:
    root = tmp_path / "camera"
    jpeg = make_photo(root / "DSC_0001.jpg", seed=8)
    write_dng(root / "DSC_0001.NEF", seed=8)  # has its JPEG: not counted
    write_dng(root / "DSC_0002.NEF", seed=9)
    write_dng(root / "DSC_0003.dng", seed=10)

    summary = _index(cli, root, tiny_model)
    status = json.loads(cli("status", "--json").stdout)
    text = cli("status").stdout

    assert summary["failed"] == [] and set(_found(cli)) == {str(jpeg)}
    assert status["skipped_formats"][".nef"]["count"] == 1
    assert status["skipped_formats"][".dng"]["count"] == 1
    assert (
        "skipped: 1 .nef files; to index them: pip install 'searchapp[raw]' (rawpy) to index "
        "camera RAW" in text
    )


@pytest.mark.usefixtures("without_rawpy")
def test_without_rawpy_a_raw_query_photo_is_one_line(
    cli: CliRunner, tiny_model: TinyModel, tmp_path: Path
) -> None:
    make_photo(tmp_path / "photos" / "a.jpg", seed=11)
    _index(cli, tmp_path / "photos", tiny_model)
    dng = write_dng(tmp_path / "IMG_0003.dng", seed=12)

    result = cli("similar", str(dng), check=False)

    assert result.returncode != 0
    assert "camera RAW needs rawpy: pip install 'searchapp[raw]'" in result.stderr


def test_a_raw_given_alone_is_still_left_to_its_jpeg(tmp_path: Path) -> None:
    from indexer.scan import scan

    make_photo(tmp_path / "IMG_0004.jpeg", seed=13)
    raw = write_dng(tmp_path / "IMG_0004.CR2", seed=13)  # as `watch` hands over one changed file
    alone = write_dng(tmp_path / "IMG_0005.CR2", seed=14)

    assert [entry.path for entry in scan([str(raw), str(alone)])] == [str(alone)]
