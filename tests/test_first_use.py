"""What a newcomer sees first: `--version`; a query on a data directory without a library says
so and creates nothing; indexing a folder without photos says so; `status` never prints None;
`--json` help says object or array as the command prints; the index summary counts
byte-identical copies."""

from __future__ import annotations

import json
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


def test_json_help_says_object_or_array_as_the_command_prints(cli: CliRunner) -> None:
    def json_help(*command: str) -> str:
        text = " ".join(cli(*command, "--help").stdout.split())
        start = text.index("--json")
        return text[start : start + 60]

    for command in (["status"], ["info"], ["doctor"], ["roots", "list"], ["caption"]):
        assert "JSON object" in json_help(*command), command
    for command in (["search"], ["similar"], ["tags"], ["classify"], ["duplicates"]):
        assert "JSON array" in json_help(*command), command


def test_the_index_summary_counts_byte_identical_copies_not_moves(
    cli: CliRunner, tiny_model: TinyModel, tmp_path: Path
) -> None:
    import shutil

    from tests.photos import make_photo

    root = tmp_path / "photos"
    original = make_photo(root / "a.jpg", seed=1)
    shutil.copyfile(original, root / "a copy.jpg")
    make_photo(root / "b.jpg", seed=2)

    first = cli("index", str(root), *tiny_model.flags, "--no-tag").stdout
    (root / "b.jpg").rename(root / "b moved.jpg")
    moved = json.loads(cli("index", str(root), "--no-tag", "--json").stdout)
    shutil.copyfile(original, root / "a again.jpg")
    copied = json.loads(cli("index", str(root), "--no-tag", "--json").stdout)

    assert "Indexed 3 " in first and "1 byte-identical copy of another photo" in first, first
    assert (moved["linked"], moved["duplicates"]) == (1, 0)
    assert (copied["linked"], copied["duplicates"]) == (1, 1)
