"""A full disk, on a real small file system (a 1 MiB tmpfs): indexing stops with one line saying
what was kept and a non-zero exit, a rerun with space completes; queries on a full disk work;
no temporary file is left behind."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import CliRunner, TinyModel
from tests.photos import make_photo


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    mount_point = tmp_path / "small-disk"
    mount_point.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    mount = ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount_point)]
    if subprocess.run(mount, check=False, capture_output=True).returncode != 0:
        pytest.skip("cannot mount a tmpfs here")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "--lazy", str(mount_point)], check=False)


def _fill(disk: Path, leave_bytes: int) -> Path:
    """A filler file taking all the free space but `leave_bytes`."""
    filler = disk / "filler"
    free = os.statvfs(disk).f_bavail * os.statvfs(disk).f_frsize
    with filler.open("wb", buffering=0) as fh:
        try:
            fh.write(b"\0" * max(0, free - leave_bytes))
            if leave_bytes == 0:
                while True:
                    fh.write(b"\0" * 4096)
        except OSError:
            pass
    return filler


def _temporary_files(directory: Path) -> list[Path]:
    return [p for p in directory.rglob("*.tmp")]


def test_disk_full_while_indexing_says_what_was_kept_in_one_line_and_a_rerun_completes(
    cli: CliRunner, tiny_model: TinyModel, photo_dir: Path, small_disk: Path, tmp_path: Path
) -> None:
    env = {"SEARCHAPP_DATA_DIR": str(small_disk / "data")}
    cli("index", str(photo_dir), *tiny_model.flags, "--no-tag", env=env)
    for i in range(30):
        make_photo(photo_dir / "more" / f"more_{i:02d}.jpg", seed=600 + i)
    filler = _fill(small_disk, leave_bytes=120_000)

    full = cli(
        "index", str(photo_dir), "--no-tag", "--batch-size", "2", "--json", env=env, check=False
    )

    assert full.returncode != 0
    assert "Disk full" in full.stderr and "of 30 photos" in full.stderr
    assert "Traceback" not in full.stderr and len(full.stderr.strip().splitlines()) == 1
    assert _temporary_files(small_disk) == []
    filler.unlink()
    again = json.loads(cli("index", str(photo_dir), "--no-tag", "--json", env=env).stdout)
    found = json.loads(cli("search", "a photo", "--json", "-k", "100", env=env).stdout)
    assert again["failed"] == [] and len(found) == 42


def test_a_query_on_a_full_disk_works_and_leaves_no_temporary_files(
    cli: CliRunner, tiny_model: TinyModel, photo_dir: Path, small_disk: Path
) -> None:
    data_dir = small_disk / "data"
    env = {"SEARCHAPP_DATA_DIR": str(data_dir)}
    cli("index", str(photo_dir), *tiny_model.flags, "--no-tag", env=env)
    shutil.rmtree(data_dir / "vectors")  # the next query must rebuild the index and try to save it
    (data_dir / "vectors").mkdir()
    _fill(small_disk, leave_bytes=0)

    found = json.loads(cli("search", "a photo", "--json", "-k", "100", env=env).stdout)
    status = json.loads(cli("status", "--json", env=env).stdout)

    assert len(found) == 12 and status["files_ok"] == 12
    assert _temporary_files(small_disk) == []
