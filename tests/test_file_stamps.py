"""A checksum verified once is not read again while its file is unchanged, and any change to the
file (a write, even with its modification time set back, a replacement) makes it read again."""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

from searchapp.file_stamps import FileStamps


class CountingChecksum:
    def __init__(self) -> None:
        self.reads = 0

    def __call__(self, path: Path) -> str:
        self.reads += 1
        return hashlib.sha256(path.read_bytes()).hexdigest()


def _stamped(tmp_path: Path, content: bytes = b"weights" * 100) -> tuple[Path, Path, str]:
    path = tmp_path / "graph.onnx"
    path.write_bytes(content)
    stamps = FileStamps(tmp_path / "verified.json", racy_seconds=0)
    value = stamps.checksum(path, CountingChecksum())
    stamps.save()
    return path, tmp_path / "verified.json", value


def test_an_unchanged_file_is_not_read_again_in_a_new_process(tmp_path: Path) -> None:
    path, record, value = _stamped(tmp_path)
    checksum = CountingChecksum()

    assert FileStamps(record, racy_seconds=0).checksum(path, checksum) == value
    assert checksum.reads == 0


def test_a_write_with_the_old_modification_time_is_read_again(tmp_path: Path) -> None:
    path, record, value = _stamped(tmp_path)
    before = path.stat()
    time.sleep(0.05)
    path.write_bytes(b"damaged" * 100)  # same size
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    checksum = CountingChecksum()

    assert FileStamps(record, racy_seconds=0).checksum(path, checksum) != value
    assert checksum.reads == 1


def test_a_replaced_file_is_read_again(tmp_path: Path) -> None:
    path, record, value = _stamped(tmp_path)
    other = tmp_path / "other"
    other.write_bytes(path.read_bytes())
    os.replace(other, path)
    checksum = CountingChecksum()

    assert FileStamps(record, racy_seconds=0).checksum(path, checksum) == value
    assert checksum.reads == 1


def test_a_file_changed_just_now_is_not_stamped(tmp_path: Path) -> None:
    path = tmp_path / "graph.onnx"
    path.write_bytes(b"fresh")
    first = FileStamps(tmp_path / "verified.json")
    first.checksum(path, CountingChecksum())
    first.save()
    checksum = CountingChecksum()

    FileStamps(tmp_path / "verified.json").checksum(path, checksum)

    assert checksum.reads == 1


def test_a_directory_that_cannot_be_written_keeps_no_stamps(tmp_path: Path) -> None:
    path = tmp_path / "graph.onnx"
    path.write_bytes(b"weights")
    (tmp_path / "verified.json").mkdir()  # the record's place is taken: writing it fails
    stamps = FileStamps(tmp_path / "verified.json", racy_seconds=0)

    assert stamps.checksum(path, CountingChecksum())
    stamps.save()
