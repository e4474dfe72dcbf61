"""A folder full of what real photo libraries hold besides photos: empty, truncated and fake
JPEGs, unreadable entries, a symlink loop, odd pixel modes, EXIF rotation, unicode names and a
decompression bomb. The run finishes, indexes every valid picture, and says why each other failed.
"""

from __future__ import annotations

import io
import json
import os
import re
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from searchapp.file_names import shown_path
from tests.conftest import CliResult, TinyModel, run_searchapp
from tests.photos import draw_photo, make_photo


@dataclass(frozen=True)
class HostileFolder:
    root: Path
    valid: set[str]
    # path → words, one of which the failure reason must contain
    invalid: dict[str, tuple[str, ...]]
    rotated: str
    with_exif: str


def _jpeg_bytes(seed: int, **save_options: Any) -> bytes:
    out = io.BytesIO()
    draw_photo(seed).save(out, "JPEG", quality=90, **save_options)
    return out.getvalue()


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _png_claiming(width: int, height: int) -> bytes:
    """A tiny PNG whose header declares `width`x`height` 1-bit pixels."""
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", zlib.compress(b"\x00" * 4096))
        + _png_chunk(b"IEND", b"")
    )


def _readable(path: Path) -> bool:
    """Whether this process can read `path`: as root, a chmod 000 file still is."""
    try:
        with path.open("rb"):
            return True
    except PermissionError:
        return False


def _camera_exif() -> Image.Exif:
    exif = Image.Exif()
    exif[0x010F] = "Canon"  # Make
    exif[0x0110] = "Canon EOS 5D"  # Model
    exif.get_ifd(0x8769)[0x9003] = "2021:07:04 18:30:00"  # Exif IFD: DateTimeOriginal
    return exif


def build_hostile_folder(root: Path) -> HostileFolder:
    summer = root / "Été 2024"
    summer.mkdir(parents=True)
    valid: set[Path] = set()
    invalid: dict[Path, tuple[str, ...]] = {}

    # Valid pictures, each with distinct content so each is embedded, not linked.
    valid.add(make_photo(root / "plain.jpg", seed=1))
    valid.add(make_photo(summer / "café au lait ☕ 01.jpg", seed=2))
    png_named_jpg = root / "really a png.jpg"
    draw_photo(3).save(png_named_jpg, "PNG")
    valid.add(png_named_jpg)
    cmyk = root / "cmyk.jpg"
    draw_photo(4).convert("CMYK").save(cmyk, "JPEG")
    valid.add(cmyk)
    sixteen_bit = root / "sixteen bit.png"
    ramp = (np.arange(96 * 72, dtype=np.uint32).reshape(72, 96) * 9).astype(np.uint16)
    Image.fromarray(ramp).save(sixteen_bit)
    valid.add(sixteen_bit)
    palette = root / "palette.png"
    indexed = draw_photo(5).convert("P", palette=Image.Palette.ADAPTIVE, colors=16)
    indexed.save(palette, transparency=0)
    valid.add(palette)
    rotated_exif = Image.Exif()
    rotated_exif[0x0112] = 6
    rotated = make_photo(root / "rotated.jpg", seed=6, exif=rotated_exif)
    valid.add(rotated)
    with_exif = make_photo(summer / "canon.jpg", seed=7, exif=_camera_exif())
    valid.add(with_exif)

    locked = root / "locked.jpg"
    locked.write_bytes(_jpeg_bytes(8))
    locked.chmod(0)
    if _readable(locked):  # root (CAP_DAC_OVERRIDE) reads it anyway
        valid.add(locked)
    else:
        invalid[locked] = ("permission denied",)

    # Invalid files.
    empty = root / "empty.jpg"
    empty.write_bytes(b"")
    invalid[empty] = ("empty",)
    whole = _jpeg_bytes(9)
    truncated = root / "truncated.jpg"
    truncated.write_bytes(whole[: len(whole) // 2])
    invalid[truncated] = ("truncated", "corrupt")
    text = summer / "notes ☕.jpg"
    text.write_text("shopping list: milk, coffee\n")
    invalid[text] = ("not an image",)
    bomb = root / "bomb.png"
    bomb.write_bytes(_png_claiming(30000, 30000))
    assert bomb.stat().st_size < 1024
    invalid[bomb] = ("refused", "megapixel")

    # Entries that are not readable files.
    broken = root / "broken link.jpg"
    broken.symlink_to(root / "nowhere.jpg")
    invalid[broken] = ("broken symbolic link", "cannot read")
    self_loop = root / "self loop.jpg"
    self_loop.symlink_to(self_loop)
    invalid[self_loop] = ("cannot read",)
    fifo = root / "pipe.jpg"
    os.mkfifo(fifo)
    invalid[fifo] = ("not a regular file",)

    # A Latin-1 name on a UTF-8 system: indexed, shown with its bad byte escaped.
    latin1 = os.path.join(os.fsencode(root), b"caf\xe9 latin-1.jpg")
    try:
        with open(latin1, "wb") as fh:
            fh.write(_jpeg_bytes(10))
    except OSError:  # a file system that only takes UTF-8 names
        pass
    else:
        valid.add(Path(os.fsdecode(latin1)))

    # A folder symlink back to an ancestor: followed once, never forever.
    (summer / "back to the top").symlink_to(root, target_is_directory=True)

    return HostileFolder(
        root=root,
        valid={shown_path(str(p)) for p in valid},
        invalid={str(p): words for p, words in invalid.items()},
        rotated=str(rotated),
        with_exif=str(with_exif),
    )


def _run_cli(data_dir: Path, *args: str) -> CliResult:
    # a walk caught in the symlink loop would hang: the timeout turns that into a failure
    return run_searchapp(data_dir, *args, timeout=120)


@dataclass(frozen=True)
class Indexed:
    """One index run over the hostile folder, what the library then reports, and a re-run."""

    folder: HostileFolder
    first: CliResult
    failures: dict[str, str]
    results: dict[str, dict[str, Any]]
    again: CliResult
    failures_again: dict[str, str]


def _failures(status: CliResult) -> dict[str, str]:
    report = json.loads(status.stdout)
    return {failure["path"]: failure["reason"] for failure in report["failed"]}


@pytest.fixture(scope="module")
def indexed(tmp_path_factory: pytest.TempPathFactory, tiny_model: TinyModel) -> Indexed:
    base = tmp_path_factory.mktemp("hostile-library")
    folder = build_hostile_folder(base / "hostile")
    data_dir = base / "data"
    first = _run_cli(data_dir, "index", str(folder.root), *tiny_model.flags)
    status = _run_cli(data_dir, "status", "--json")
    search = _run_cli(data_dir, "search", "x", "--json", "-k", "50")
    again = _run_cli(data_dir, "index", str(folder.root))
    status_again = _run_cli(data_dir, "status", "--json")
    for result in (first, status, search, again, status_again):
        assert result.returncode == 0, f"exit {result.returncode}\n{result.stdout}\n{result.stderr}"
    return Indexed(
        folder=folder,
        first=first,
        failures=_failures(status),
        results={result["path"]: result for result in json.loads(search.stdout)},
        again=again,
        failures_again=_failures(status_again),
    )


def test_hostile_folder_run_finishes_cleanly(indexed: Indexed) -> None:
    assert indexed.first.returncode == 0
    assert "Traceback" not in indexed.first.stderr
    assert f"Indexed {len(indexed.folder.valid)} " in indexed.first.stdout
    assert f"failed {len(indexed.folder.invalid)} " in indexed.first.stdout


def test_every_valid_picture_is_indexed_under_its_absolute_path(indexed: Indexed) -> None:
    assert set(indexed.results) == indexed.folder.valid
    assert all(os.path.isabs(path) for path in indexed.results)


def test_every_invalid_file_is_listed_as_failed_with_a_reason_saying_what_is_wrong(
    indexed: Indexed,
) -> None:
    assert set(indexed.failures) == set(indexed.folder.invalid)
    for path, words in indexed.folder.invalid.items():
        reason = indexed.failures[path].lower()
        assert any(word.lower() in reason for word in words), (path, reason)


def test_exif_rotated_photo_reports_its_upright_size(indexed: Indexed) -> None:
    rotated = indexed.results[indexed.folder.rotated]

    assert (rotated["width"], rotated["height"]) == (72, 96)


def test_exif_capture_time_and_camera_reach_search_results(indexed: Indexed) -> None:
    canon = indexed.results[indexed.folder.with_exif]

    assert canon["captured_at"] == "2021-07-04T18:30:00"
    assert canon["camera"] == "Canon EOS 5D"
    assert (canon["width"], canon["height"]) == (96, 72)


def test_rerun_on_unchanged_hostile_folder_embeds_nothing(indexed: Indexed) -> None:
    summary = re.search(
        r"Indexed (\d+) \((\d+) embedded, (\d+) moved.*unchanged (\d+), removed (\d+), "
        r"failed (\d+)",
        indexed.again.stdout,
    )

    assert summary is not None, indexed.again.stdout
    indexed_count, embedded, linked, unchanged, removed, failed = map(int, summary.groups())
    assert (indexed_count, embedded, linked, removed, failed) == (0, 0, 0, 0, 0)
    assert unchanged == len(indexed.folder.valid) + len(indexed.folder.invalid)


def test_rerun_on_unchanged_hostile_folder_keeps_the_failures_unchanged(indexed: Indexed) -> None:
    assert indexed.failures_again == indexed.failures
