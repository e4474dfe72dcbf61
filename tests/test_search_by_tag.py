"""`search --tag` and `similar --tag` rank only photos carrying every given tag."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import CliRunner, TinyModel
from tests.reference import ReferenceModel

EXACT = {"SEARCHAPP_FAST_JPEG_DECODE": "false"}


@pytest.fixture
def tagged(
    cli: CliRunner, tiny_model: TinyModel, photo_dir: Path, tmp_path: Path
) -> dict[str, set[str]]:
    """Every photo gets its best two of four labels; returns label → tagged paths."""
    cli("index", str(photo_dir), *tiny_model.flags, env=EXACT)
    labels = tmp_path / "kinds.txt"
    labels.write_text("dog\ncat\nbeach\nforest\n")
    cli("tag", "--labels", str(labels), "--threshold", "0", "-k", "2")
    by_label: dict[str, set[str]] = {}
    for path in photo_dir.rglob("*.jpg"):
        for tag in json.loads(cli("info", str(path), "--json").stdout)["tags"]:
            if tag["vocabulary"] == "kinds":
                by_label.setdefault(tag["label"], set()).add(str(path))
    return by_label


def _most_common(tagged: dict[str, set[str]]) -> str:
    return max(tagged, key=lambda label: len(tagged[label]))


def test_text_search_with_a_tag_ranks_only_tagged_photos_exactly(
    cli: CliRunner, tiny_model: TinyModel, tagged: dict[str, set[str]]
) -> None:
    label = _most_common(tagged)
    paths = sorted(tagged[label])
    reference = ReferenceModel(tiny_model)
    scores = reference.images([Path(p) for p in paths]) @ reference.texts(["a sunny day"])[0]

    out = cli("search", "a sunny day", "--tag", label, "-k", "50", "--json", env=EXACT)

    results = json.loads(out.stdout)
    assert [r["path"] for r in results] == [paths[i] for i in np.argsort(-scores)]
    np.testing.assert_allclose([r["score"] for r in results], np.sort(scores)[::-1], atol=2e-4)


def test_repeated_tags_mean_photos_with_all_of_them(
    cli: CliRunner, tagged: dict[str, set[str]]
) -> None:
    first, second = sorted(tagged, key=lambda label: -len(tagged[label]))[:2]

    out = cli("search", "anything", "--tag", first, "--tag", second, "-k", "50", "--json")

    assert {r["path"] for r in json.loads(out.stdout)} == tagged[first] & tagged[second]


def test_similar_with_a_tag_keeps_to_tagged_photos(
    cli: CliRunner, tagged: dict[str, set[str]]
) -> None:
    label = _most_common(tagged)
    query = sorted(tagged[label])[0]

    out = cli("similar", query, "--tag", label, "-k", "50", "--json")

    results = json.loads(out.stdout)
    assert results[0]["path"] == query
    assert {r["path"] for r in results} == tagged[label]


def test_a_tag_no_photo_has_gives_no_results(cli: CliRunner, tagged: dict[str, set[str]]) -> None:
    out = cli("search", "a dog", "--tag", "no-such-tag", "--json")

    assert json.loads(out.stdout) == []
