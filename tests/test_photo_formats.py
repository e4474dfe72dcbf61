"""Every photo format of the default install is indexed (HEIC, AVIF, JPEG 2000, the PNM family
beside JPEG/PNG/…), a photo without its extension is recognised by its content, and photos in a
format this install cannot read are counted by `status` with what would read them."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from PIL import features

from tests.conftest import CliRunner, TinyModel
from tests.photos import draw_photo


def _save(path: Path, seed: int, kind: str, **options: object) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    image = draw_photo(seed)
    if kind in {"PBM", "PGM"}:
        image = image.convert("1" if kind == "PBM" else "L")
        kind = "PPM"
    image.save(path, kind, **options)
    return path


def test_heic_avif_jpeg2000_and_pnm_photos_are_indexed_and_found(
    cli: CliRunner, tiny_model: TinyModel, tmp_path: Path
) -> None:
    pillow_heif = pytest.importorskip("pillow_heif")
    pillow_heif.register_heif_opener()
    root = tmp_path / "formats"
    photos = [
        _save(root / "iphone.heic", 1, "HEIF"),
        _save(root / "scan.jp2", 2, "JPEG2000"),
        _save(root / "colour.ppm", 3, "PPM"),
        _save(root / "grey.pgm", 4, "PGM"),
        _save(root / "line art.pbm", 5, "PBM"),
        _save(root / "any.pnm", 6, "PPM"),
    ]
    if features.check("avif"):
        photos.append(_save(root / "modern.avif", 7, "AVIF"))

    summary = json.loads(cli("index", str(root), *tiny_model.flags, "--no-tag", "--json").stdout)
    found = json.loads(cli("search", "a photo", "--json", "-k", "50").stdout)

    assert summary["failed"] == [] and summary["embedded"] == len(photos)
    assert {r["path"] for r in found} == {str(p) for p in photos}


def test_a_photo_without_its_extension_is_recognised_by_its_content(
    cli: CliRunner, tiny_model: TinyModel, tmp_path: Path
) -> None:
    root = tmp_path / "no-extensions"
    jpeg = _save(root / "IMG_0001", 8, "JPEG")
    png = _save(root / "scan.dat", 9, "PNG")
    (root / "notes").write_text("not a photo at all\n")
    (root / "clip.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 64)

    summary = json.loads(cli("index", str(root), *tiny_model.flags, "--no-tag", "--json").stdout)
    found = json.loads(cli("search", "a photo", "--json", "-k", "50").stdout)

    assert summary["failed"] == [] and summary["embedded"] == 2
    assert {r["path"] for r in found} == {str(jpeg), str(png)}


@pytest.mark.usefixtures("without_rawpy")
def test_status_lists_photos_skipped_for_a_format_this_install_cannot_read(
    cli: CliRunner, tiny_model: TinyModel, tmp_path: Path
) -> None:
    root = tmp_path / "camera"
    _save(root / "DSC_0001.jpg", 10, "JPEG")
    for name in ("DSC_0002.NEF", "DSC_0003.NEF", "DSC_0004.cr2"):
        raw = io.BytesIO()
        draw_photo(11).save(raw, "TIFF")  # RAW files are TIFF-like containers
        (root / name).write_bytes(raw.getvalue())

    summary = json.loads(cli("index", str(root), *tiny_model.flags, "--no-tag", "--json").stdout)
    status = json.loads(cli("status", "--json").stdout)
    text = cli("status").stdout

    assert summary["embedded"] == 1 and summary["failed"] == []
    assert status["skipped_formats"][".nef"]["count"] == 2
    assert status["skipped_formats"][".cr2"]["count"] == 1
    assert "skipped: 2 .nef files" in text
