"""A finished `index` or query leaves without the interpreter's teardown (its atexit handlers do
not run), having printed and committed everything; a failed command exits the ordinary way."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import BASE_ENV, TinyModel, run_searchapp

MARK = "interpreter teardown ran"
RUN_MAIN = (
    "import atexit, sys\n"
    f"atexit.register(lambda: print({MARK!r}, file=sys.stderr))\n"
    "from searchapp.cli.app import main\n"
    "sys.argv = ['searchapp', *sys.argv[1:]]\n"
    "main()\n"
)


def _searchapp_main(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **BASE_ENV, "SEARCHAPP_DATA_DIR": str(data_dir)}
    return subprocess.run(
        [sys.executable, "-c", RUN_MAIN, *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )


def test_index_and_search_leave_at_once_with_everything_written(
    tiny_model: TinyModel, photo_dir: Path, data_dir: Path
) -> None:
    photos = [p for p in photo_dir.rglob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png")]

    indexed = _searchapp_main(data_dir, "index", str(photo_dir), *tiny_model.flags, "--json")
    searched = _searchapp_main(data_dir, "search", "a red circle", "--json", "-k", "100")

    assert indexed.returncode == 0, indexed.stderr
    assert MARK not in indexed.stderr
    assert json.loads(indexed.stdout)["embedded"] == len(photos)
    assert searched.returncode == 0, searched.stderr
    assert MARK not in searched.stderr
    assert len(json.loads(searched.stdout)) == len(photos)
    status = run_searchapp(data_dir, "status", "--json")
    assert json.loads(status.stdout)["images"] == len(photos)


def test_a_failed_index_exits_the_ordinary_way(data_dir: Path, tmp_path: Path) -> None:
    failed = _searchapp_main(data_dir, "index", str(tmp_path / "no-such-folder"))

    assert failed.returncode != 0
    assert "No such file or folder" in failed.stderr
    assert MARK in failed.stderr
