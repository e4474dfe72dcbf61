"""The installed command, in a subprocess: index a folder, then search it by text and image."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.conftest import CliRunner, TinyModel


def test_index_then_search_then_similar_in_fresh_processes(
    cli_process: CliRunner, tiny_model: TinyModel, photo_dir: Path
) -> None:
    indexed = cli_process("index", str(photo_dir), *tiny_model.flags)
    table = cli_process("search", "a green triangle", "--top-k", "3")
    similar = json.loads(cli_process("similar", str(photo_dir / "photo_02.jpg"), "--json").stdout)

    assert "Indexed 12" in indexed.stdout and "failed 0" in indexed.stdout
    assert "Indexing" in indexed.stderr
    assert (
        sum(line.strip().startswith(("1 ", "2 ", "3 ")) for line in table.stdout.splitlines()) == 3
    )
    assert similar[0]["path"] == str(photo_dir / "photo_02.jpg")
    assert set(similar[0]) >= {"path", "score", "captured_at"}


def test_errors_are_one_line_with_exit_code_not_a_traceback(
    cli_process: CliRunner, tmp_path: Path
) -> None:
    result = cli_process("index", str(tmp_path / "no-such-folder"), check=False)

    assert result.returncode == 1
    assert result.stderr.strip().startswith("Error: No such file or folder")
    assert "Traceback" not in result.stderr


def test_similar_with_an_unreadable_query_image_says_why(
    cli_process: CliRunner, tiny_model: TinyModel, photo_dir: Path, tmp_path: Path
) -> None:
    cli_process("index", str(photo_dir), *tiny_model.flags)
    not_an_image = tmp_path / "notes.jpg"
    not_an_image.write_text("shopping list")

    result = cli_process("similar", str(not_an_image), check=False)

    assert result.returncode == 1
    assert "Cannot use" in result.stderr and "not an image" in result.stderr


def test_help_does_not_import_torch() -> None:
    code = "import sys; from searchapp.cli.app import app; print('torch' in sys.modules)"

    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)

    assert out.stdout.strip() == "False"
