"""Bad query inputs get one line at once: a query image that is a FIFO or a device (never
opened, so neither a hang nor unbounded memory), an empty or blank text, and a minimum score
that is not a number in [-1, 1]; a text longer than the model's context says it was cut."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.conftest import CliRunner, TinyModel, run_searchapp


@pytest.fixture
def indexed(cli: CliRunner, tiny_model: TinyModel, photo_dir: Path) -> Path:
    cli("index", str(photo_dir), *tiny_model.flags, "--no-tag")
    return photo_dir


def _one_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in stderr, stderr
    return lines[0]


def test_a_fifo_or_a_device_as_query_image_is_refused_at_once(
    indexed: Path, data_dir: Path, tmp_path: Path
) -> None:
    fifo = tmp_path / "pipe.jpg"
    os.mkfifo(fifo)
    for image in (str(fifo), "/dev/zero"):
        # a read of either would hang or grow without bound: the timeout turns that into a failure
        result = run_searchapp(data_dir, "similar", image, timeout=60)

        assert result.returncode == 1
        assert "not a regular file" in _one_line(result.stderr)


def test_an_empty_or_blank_text_query_and_a_minimum_score_outside_minus_one_to_one_are_refused(
    cli: CliRunner, indexed: Path
) -> None:
    for text in ("", "   ", "\t\n"):
        result = cli("search", text, check=False)
        assert result.returncode == 1 and "empty" in _one_line(result.stderr), repr(text)
    for score in ("nan", "5", "-2", "inf"):
        result = cli("search", "a photo", "--min-score", score, check=False)
        assert result.returncode == 1, score
        assert "between -1 and 1" in _one_line(result.stderr), score


def test_a_query_longer_than_the_models_context_says_it_was_cut(
    cli: CliRunner, indexed: Path
) -> None:
    long_query = " ".join(["a red bicycle leaning on a blue wall"] * 12)  # ~100 tokens

    long = cli("search", long_query, "--json")
    short = cli("search", "a red bicycle", "--json")

    assert "tokens long; the model reads 77, so only its beginning was used" in long.stderr
    assert "Note:" not in short.stderr
    assert long.stdout.lstrip().startswith("[")  # the note never mixes into the JSON


@pytest.mark.usefixtures("indexed")
def test_the_search_response_carries_the_truncation_note(data_dir: Path) -> None:
    from searchapp.config import Settings
    from searchapp.query import Query
    from searchapp.service import LibraryService

    with LibraryService(Settings(data_dir=data_dir, precision="fp32")) as service:
        response = service.search(Query.text("sunset " * 90))

    assert len(response.as_dict()["notes"]) == 1  # type: ignore[arg-type]
