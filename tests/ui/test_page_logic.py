"""The page's logic through Streamlit's AppTest: what a search, a filter, an upload or a click
shows, against a real indexed library (the suite's tiny model) and the real service."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import pytest
from streamlit.testing.v1 import AppTest

from searchapp.config import Settings
from searchapp.filters import parse_filter
from searchapp.query import Query
from searchapp.search import SearchOptions
from searchapp.service import LibraryService
from tests.conftest import BASE_ENV
from tests.ui.conftest import UiLibrary

APP = str(Path(__file__).parents[2] / "ui" / "app.py")
DIALOG = 2
"""The AppTest tree's event block, where a dialog is drawn."""


def _app() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    assert not at.exception
    return at


def _cards(at: AppTest) -> list[dict[str, Any]]:
    """The cards the results grid (one `ui.photo_grid` component) was given to draw."""
    return [c for grid in at.get("bidi_component") for c in json.loads(grid.proto.json)["cards"]]


def _thumbnails(at: AppTest) -> list[str]:
    """The file names on the grid's cards, each card with a thumbnail URL."""
    assert all(card["src"] for card in _cards(at))
    return [card["name"] for card in _cards(at)]


def _open(at: AppTest, photo_id: int) -> AppTest:
    """What a click on "Open" asks for (the click itself is the browser test's)."""
    at.session_state["photo_to_open"] = photo_id
    at.run()
    assert not at.exception
    return at


def _photo_ids(at: AppTest) -> list[int]:
    return [int(card["id"]) for card in _cards(at)]


def _expected(library: UiLibrary, query: Query | str, tags: tuple[str, ...] = ()) -> list[str]:
    with LibraryService(Settings(data_dir=library.data_dir)) as service:
        response = service.search(
            query, parse_filter(tags=tags), SearchOptions(top_k=60, min_score=-1.0)
        )
    return [os.path.basename(hit.path) for hit in response.results]


def _search(at: AppTest, text: str) -> AppTest:
    at.toggle(key="auto_cutoff").set_value(False).run()
    at.slider(key="min_score").set_value(-1.0)
    at.text_input(key="query").input(text).run()
    assert not at.exception
    return at


def test_the_page_opens_on_the_search_box(ui_env: UiLibrary) -> None:
    at = _app()
    assert at.text_input[0].key == "query"
    assert at.toggle(key="auto_cutoff").value is True
    assert "Type what you are looking for" in at.info[0].value


def test_a_text_search_shows_the_services_ranking_as_thumbnails(ui_env: UiLibrary) -> None:
    at = _search(_app(), "a red circle")
    expected = _expected(ui_env, "a red circle")
    assert len(expected) == 15 and _thumbnails(at) == expected
    assert re.match(rf"{len(expected)} photos · query \d+ ms", at.caption[0].value)


def _partial_tag(library: UiLibrary) -> tuple[str, int]:
    """A tag that some photos have and some do not."""
    with LibraryService(Settings(data_dir=library.data_dir)) as service:
        counts = service.tag_counts()
    return next((label, n) for _, label, n in counts if 0 < n < 15)


def test_a_tag_filter_keeps_only_photos_with_the_tag(ui_env: UiLibrary) -> None:
    label, tagged = _partial_tag(ui_env)
    at = _search(_app(), "a photo")
    at.multiselect(key="filter_tags").select(label).run()
    shown = _thumbnails(at)
    assert shown == _expected(ui_env, "a photo", (label,))
    assert len(shown) == tagged


def test_opening_a_result_shows_its_details_in_the_dialog(ui_env: UiLibrary) -> None:
    at = _search(_app(), "a red circle")
    first = _thumbnails(at)[0]
    dialog = _open(at, _photo_ids(at)[0])._tree.children[DIALOG]
    panel = "\n".join(md.value for md in dialog.markdown)
    assert 'class="preview" src="' in panel and f'alt="{first}"' in panel
    assert f"**{first}**" in panel
    assert "**Path:**" in panel and first in panel
    assert "**Camera:**" in panel
    tags = re.findall(r"^\| (\w+) \| [-\d.]+ \| colours \|$", panel, re.MULTILINE)
    assert set(tags) <= {"red", "green", "blue", "circle", "square"} and len(tags) == 2
    assert "vision-language model" in " ".join(c.value for c in dialog.caption)
    assert [b.label for b in dialog.button] == ["More like this"]


def test_more_like_this_searches_by_the_photo(ui_env: UiLibrary) -> None:
    at = _search(_app(), "a red circle")
    photo_id = _photo_ids(at)[3]
    dialog = _open(at, photo_id)._tree.children[DIALOG]
    next(b for b in dialog.button if b.label == "More like this").click().run()
    assert not at.exception
    assert at.text_input(key="query").value == ""
    shown = _thumbnails(at)
    assert shown == _expected(ui_env, Query.photo(photo_id))
    assert any(b.label == f"✕ Like photo {photo_id}" for b in at.button)
    assert not list(at._tree.children[DIALOG].markdown)


def test_an_uploaded_photo_finds_itself_first(ui_env: UiLibrary) -> None:
    at = _app()
    at.toggle(key="auto_cutoff").set_value(False).run()
    photo = ui_env.photos / "photo_03.jpg"
    at.file_uploader(key="upload").set_value((photo.name, photo.read_bytes(), "image/jpeg")).run()
    assert not at.exception
    assert _thumbnails(at)[0] == "photo_03.jpg"


def test_no_results_say_what_to_change(ui_env: UiLibrary) -> None:
    at = _search(_app(), "a red circle")
    at.slider(key="min_score").set_value(0.99).run()
    assert "No photos match" in at.warning[0].value
    assert "lower the cutoff" in at.warning[0].value


def test_an_empty_library_says_how_to_add_photos(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name, value in BASE_ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("SEARCHAPP_DATA_DIR", str(tmp_path / "empty"))
    at = _app()
    at.text_input(key="query").input("a beach").run()
    assert "Nothing is indexed yet" in at.info[0].value
    at.radio(key="view").set_value("Collection").run()
    assert any("Nothing is indexed yet" in i.value for i in at.info)


def test_the_collection_shows_tags_map_and_browsing(ui_env: UiLibrary) -> None:
    at = _app()
    at.radio(key="view").set_value("Collection").run()
    assert not at.exception
    assert [s.value for s in at.subheader][:3] == ["Tags", "Map", "Browse by tag"]
    assert any("15 photos, placed by how they look" in c.value for c in at.caption)
    label, count = _partial_tag(ui_env)
    at.selectbox(key="browse_tag").set_value(label).run()
    with LibraryService(Settings(data_dir=ui_env.data_dir)) as service:
        tagged = [os.path.basename(h.path) for h in service.photos_tagged(label)]
    assert len(tagged) == count and _thumbnails(at) == tagged


def test_adding_a_folder_that_does_not_exist_says_so(ui_env: UiLibrary) -> None:
    at = _app()
    at.radio(key="view").set_value("Library").run()
    at.text_input(key="new_root").input("/no/such/folder")
    next(b for b in at.button if b.label == "Add folder").click().run()
    assert "/no/such/folder is not a folder on this machine." in at.error[0].value


def test_finding_near_duplicates_reports_the_services_groups(ui_env: UiLibrary) -> None:
    with LibraryService(Settings(data_dir=ui_env.data_dir)) as service:
        groups = service.duplicates()
    at = _app()
    at.radio(key="view").set_value("Collection").run()
    next(b for b in at.button if b.key == "find_dups").click().run()
    assert not at.exception
    captions = " ".join(c.value for c in at.caption)
    if groups:
        assert f"{len(groups)} groups" in captions
    else:
        assert "No near-duplicate photos found." in captions
