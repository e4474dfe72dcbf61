"""Vocabularies replace, coexist, follow re-indexing and moved files; bad label files are
refused with a message, or cleaned up as documented."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.conftest import CliRunner, TinyModel
from tests.photos import make_photo


def _tags(cli: CliRunner, vocabulary: str | None = None) -> list[dict[str, object]]:
    args = ["tags", "--json"] + (["--vocabulary", vocabulary] if vocabulary else [])
    rows: list[dict[str, object]] = json.loads(cli(*args).stdout)
    return rows


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


@pytest.fixture
def indexed(cli: CliRunner, tiny_model: TinyModel, photo_dir: Path) -> Path:
    cli("index", str(photo_dir), *tiny_model.flags)
    return photo_dir


def test_a_changed_vocabulary_replaces_its_tags(
    cli: CliRunner, indexed: Path, tmp_path: Path
) -> None:
    labels = _write(tmp_path / "things.txt", "dog\ncat\n")
    cli("tag", "--labels", str(labels), "--threshold", "0", "-k", "1")
    _write(labels, "tree\ncar\n")

    out = cli("tag", "--labels", str(labels), "--threshold", "0", "-k", "1", "--json")

    assert json.loads(out.stdout)["replaced_earlier_tags"] is True
    assert {row["label"] for row in _tags(cli, "things")} <= {"tree", "car"}
    assert sum(int(str(row["images"])) for row in _tags(cli, "things")) == 12


def test_two_vocabularies_coexist(cli: CliRunner, indexed: Path, tmp_path: Path) -> None:
    pets = _write(tmp_path / "pets.txt", "dog\ncat\n")
    places = _write(tmp_path / "places.txt", "beach\nforest\n")

    cli("tag", "--labels", str(pets), "--threshold", "0", "-k", "1")
    cli("tag", "--labels", str(places), "--threshold", "0", "-k", "1")

    by_vocabulary = {str(row["vocabulary"]) for row in _tags(cli)}
    assert {"pets", "places"} <= by_vocabulary
    info = json.loads(cli("info", str(indexed / "photo_01.jpg"), "--json").stdout)
    assert {t["vocabulary"] for t in info["tags"]} >= {"pets", "places"}


def test_new_photos_are_tagged_by_every_vocabulary_when_indexed(
    cli: CliRunner, indexed: Path, tmp_path: Path
) -> None:
    pets = _write(tmp_path / "pets.txt", "dog\ncat\n")
    cli("tag", "--labels", str(pets), "--threshold", "0", "-k", "1")
    new_photo = make_photo(indexed / "new" / "fresh.jpg", seed=777)

    out = cli("index", str(indexed), "--json")

    runs = {run["vocabulary"]: run["images"] for run in json.loads(out.stdout)["tagging"]}
    assert runs == {"default": 1, "pets": 1}
    info = json.loads(cli("info", str(new_photo), "--json").stdout)
    assert "pets" in [t["vocabulary"] for t in info["tags"]]


def test_indexing_tags_the_library_with_the_default_vocabulary(
    cli: CliRunner, tiny_model: TinyModel, photo_dir: Path
) -> None:
    out = cli("index", str(photo_dir), *tiny_model.flags, "--json")

    assert json.loads(out.stdout)["tagging"][0]["vocabulary"] == "default"
    assert json.loads(out.stdout)["tagging"][0]["images"] == 12
    again = cli("index", str(photo_dir), "--json")
    assert json.loads(again.stdout)["tagging"] == []


def test_tags_follow_a_moved_photo(cli: CliRunner, indexed: Path, tmp_path: Path) -> None:
    pets = _write(tmp_path / "pets.txt", "dog\ncat\n")
    cli("tag", "--labels", str(pets), "--threshold", "0", "-k", "2")
    before = json.loads(cli("info", str(indexed / "photo_01.jpg"), "--json").stdout)["tags"]
    moved = indexed / "moved" / "renamed.jpg"
    moved.parent.mkdir()
    shutil.move(indexed / "photo_01.jpg", moved)

    cli("index", str(indexed))

    assert json.loads(cli("info", str(moved), "--json").stdout)["tags"] == before


def test_a_user_vocabulary_survives_a_reindex_with_another_model(
    cli: CliRunner, indexed: Path, tiny_model: TinyModel, tmp_path: Path
) -> None:
    import open_clip
    import torch

    pets = _write(tmp_path / "pets.txt", "dog\ncat\n")
    cli("tag", "--labels", str(pets), "--threshold", "0", "-k", "1")
    open_clip.add_model_config(tiny_model.config_path)
    torch.manual_seed(5)
    other = tmp_path / "other-weights.pt"
    torch.save(open_clip.create_model(tiny_model.name).state_dict(), other)

    out = cli(
        "index",
        str(indexed),
        "--model-config",
        str(tiny_model.config_path),
        "--pretrained",
        str(other),
        "--reindex",
        "--json",
    )

    runs = {run["vocabulary"]: run["images"] for run in json.loads(out.stdout)["tagging"]}
    assert runs["pets"] == 12
    assert sum(int(str(row["images"])) for row in _tags(cli, "pets")) == 12


def test_repeated_labels_and_comments_are_cleaned_up(
    cli: CliRunner, indexed: Path, tmp_path: Path
) -> None:
    labels = _write(tmp_path / "messy.txt", "# my labels\n  dog \n\nDog\ncat\ncat\n  hot   dog\n")

    out = cli("tag", "--labels", str(labels), "--json")

    assert json.loads(out.stdout)["labels"] == 3
    assert json.loads(out.stdout)["duplicates_dropped"] == 2
    ranking = json.loads(
        cli("classify", str(indexed / "photo_01.jpg"), "--labels", str(labels), "--json").stdout
    )
    assert sorted(r["label"] for r in ranking) == ["cat", "dog", "hot dog"]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "has no labels; write one label per line"),
        (b"# only a comment\n\n   \n", "has no labels; write one label per line"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "is not a text file"),
        (b"caf\xe9\n", "is not UTF-8 text"),
        (b"dog\n" + b"word " * 60 + b"\n", "Line 2 of"),
    ],
    ids=["empty", "only-comments", "binary", "latin-1", "very-long-line"],
)
def test_a_bad_label_file_gets_a_clear_error(
    cli: CliRunner, indexed: Path, tmp_path: Path, content: bytes, message: str
) -> None:
    labels = tmp_path / "bad.txt"
    labels.write_bytes(content)

    out = cli("tag", "--labels", str(labels), check=False)

    assert out.returncode == 1
    assert message in out.stderr
    assert "Traceback" not in out.stderr


def test_a_template_without_a_slot_for_the_label_is_refused(
    cli: CliRunner, indexed: Path, tmp_path: Path
) -> None:
    templates = _write(tmp_path / "templates.txt", "a photo of something.\n")

    out = cli("tag", "--templates", str(templates), check=False)

    assert out.returncode == 1
    assert "must contain {} exactly once" in out.stderr


def test_info_on_a_file_outside_the_library_says_how_to_add_it(
    cli: CliRunner, indexed: Path, tmp_path: Path
) -> None:
    outside = make_photo(tmp_path / "elsewhere.jpg", seed=5)

    out = cli("info", str(outside), check=False)

    assert out.returncode == 1
    assert "is not in the library" in out.stderr


def test_index_with_no_tag_leaves_the_photos_for_a_later_run_to_tag(
    cli: CliRunner, tiny_model: TinyModel, photo_dir: Path
) -> None:
    skipped = cli("index", str(photo_dir), *tiny_model.flags, "--no-tag", "--json")
    env_off = cli("index", str(photo_dir), "--json", env={"SEARCHAPP_AUTO_TAG": "false"})

    later = cli("index", str(photo_dir), "--json")

    assert json.loads(skipped.stdout)["tagging"] == []
    assert json.loads(env_off.stdout)["tagging"] == []
    assert json.loads(later.stdout)["tagging"][0]["images"] == 12
