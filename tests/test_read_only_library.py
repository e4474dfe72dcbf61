"""A read-only data directory (a read-only mount, or files the user may not write): search,
similar, status, info and tags work without writing anything; index and watch say in one line
that the data directory is read-only."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import CliResult, CliRunner, TinyModel


def _make_read_only(source: Path, mount_point: Path) -> Iterator[Path]:
    """`source` seen read-only: a read-only bind mount where this process may mount (root),
    else the folder and its files without write permission."""
    mount_point.mkdir()
    if os.geteuid() == 0:
        bind = subprocess.run(["mount", "--bind", str(source), str(mount_point)], check=False)
        if bind.returncode != 0:
            pytest.skip("root, but cannot bind-mount here: no way to make a folder read-only")
        try:
            remount = ["mount", "-o", "remount,bind,ro", str(mount_point)]
            if subprocess.run(remount, check=False).returncode != 0:
                pytest.skip("cannot remount read-only here")
            yield mount_point
        finally:
            subprocess.run(["umount", "--lazy", str(mount_point)], check=False)
        return
    mount_point.rmdir()
    shutil.copytree(source, mount_point)
    for path in [mount_point, *mount_point.rglob("*")]:
        path.chmod(0o555 if path.is_dir() else 0o444)
    try:
        yield mount_point
    finally:
        for path in [mount_point, *mount_point.rglob("*")]:
            path.chmod(0o755 if path.is_dir() else 0o644)


@pytest.fixture
def read_only_dir(
    cli: CliRunner, tiny_model: TinyModel, photo_dir: Path, data_dir: Path, tmp_path: Path
) -> Iterator[Path]:
    cli("index", str(photo_dir), *tiny_model.flags)
    shutil.rmtree(data_dir / "vectors")  # so the index must be built, and kept in memory
    yield from _make_read_only(data_dir, tmp_path / "read-only")


def _on(read_only_dir: Path) -> dict[str, str]:
    return {"SEARCHAPP_DATA_DIR": str(read_only_dir)}


def _snapshot(directory: Path) -> dict[str, bytes]:
    files = (p for p in directory.rglob("*") if p.is_file())
    return {str(p.relative_to(directory)): p.read_bytes() for p in files}


def test_search_similar_status_info_and_tags_work_on_a_read_only_data_dir(
    cli: CliRunner, photo_dir: Path, read_only_dir: Path
) -> None:
    before = _snapshot(read_only_dir)
    photo = str(photo_dir / "photo_01.jpg")
    env = _on(read_only_dir)

    texts = json.loads(cli("search", "a photo", "--json", "-k", "50", env=env).stdout)
    similar = json.loads(cli("similar", photo, "--json", env=env).stdout)
    status = json.loads(cli("status", "--json", env=env).stdout)
    info = cli("info", photo, env=env)
    tags = cli("tags", env=env)

    assert len(texts) == 12
    assert similar[0]["path"] == photo and similar[0]["score"] == pytest.approx(1.0, abs=1e-4)
    assert status["files_ok"] == 12
    assert photo in info.stdout
    assert tags.returncode == 0
    assert _snapshot(read_only_dir) == before  # nothing written, no -wal or -shm created
    assert not (read_only_dir / "vectors").exists()


@pytest.mark.parametrize("command", [("index", "--json"), ("watch",)], ids=["index", "watch"])
def test_index_and_watch_say_in_one_line_that_the_data_dir_is_read_only(
    cli: CliRunner, photo_dir: Path, read_only_dir: Path, command: tuple[str, ...]
) -> None:
    args = (command[0], str(photo_dir), *command[1:])
    result: CliResult = cli(*args, env=_on(read_only_dir), check=False)

    assert result.returncode != 0
    assert "read-only" in result.stderr and str(read_only_dir) in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
