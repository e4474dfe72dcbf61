"""What a newcomer sees first: `--version`; a query on a data directory without a library says
so and creates nothing; indexing a folder without photos says so; `status` never prints None."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import CliRunner, TinyModel


def test_version_is_printed(cli: CliRunner) -> None:
    result = cli("--version")

    assert result.stdout.startswith("searchapp ")


def test_a_query_on_a_data_dir_without_a_library_says_so_and_creates_nothing(
    cli: CliRunner, data_dir: Path
) -> None:
    for args in (("search", "a photo"), ("status",), ("tags",)):
        result = cli(*args, check=False)

        assert result.returncode == 1, args
        assert "There is no library in" in result.stderr and "Traceback" not in result.stderr
    assert not data_dir.exists()


def test_indexing_a_folder_without_photos_says_so_and_status_never_prints_none(
    cli: CliRunner, tiny_model: TinyModel, tmp_path: Path
) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.txt").write_text("no photos here\n")

    indexed = cli("index", str(empty), *tiny_model.flags, "--no-tag")
    status = cli("status")

    assert "No photos found" in indexed.stdout
    assert "None" not in status.stdout
