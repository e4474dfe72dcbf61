"""The UI in a real browser: `searchapp ui` on loopback over a small indexed library, driven in
Debian's chromium (headless) through Playwright. Screenshots go to test-artefacts/ui/."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from searchapp.config import Settings
from searchapp.filters import parse_filter
from searchapp.search import SearchOptions
from searchapp.service import LibraryService
from tests.ui.browser import (
    ARTEFACTS,
    CHROMIUM,
    EXACTLY_PAINTED,
    PAINTED,
    PREVIEW,
    WAIT_MS,
    browser_page,
    running_ui,
    wait_for_app,
)
from tests.ui.conftest import UiLibrary

if TYPE_CHECKING:
    from playwright.sync_api import Locator, Page

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason="needs Debian's chromium at /usr/bin/chromium (apt-get install -y chromium)",
)


@pytest.fixture(scope="module")
def ui_url(ui_library: UiLibrary) -> Iterator[str]:
    with running_ui(ui_library.data_dir) as url:
        yield url


@pytest.fixture
def page(ui_url: str) -> Iterator[Page]:
    with browser_page(ui_url) as tab:
        yield tab


AT_MINIMUM = re.compile(r"^-1(\.0*)?$")


def _shot(page: Page, name: str) -> None:
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTEFACTS / f"{name}.png"), full_page=True)


def _all_scores(page: Page, attempts: int = 3) -> None:
    """Auto cutoff off and the minimum score at -1: every photo is a result. Each step waits
    for its effect (the slider enabled, then at its minimum): right after a click the rerun may
    not have started yet, and a key pressed on the still disabled slider is lost."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
    from playwright.sync_api import expect

    slider = page.get_by_role("slider")
    page.get_by_text("Auto cutoff").click()
    expect(slider).to_be_enabled(timeout=WAIT_MS)
    for attempt in range(attempts):
        wait_for_app(page)
        slider.focus()
        page.keyboard.press("Home")
        try:
            expect(slider).to_have_value(AT_MINIMUM, timeout=WAIT_MS // 3)
            break
        except (AssertionError, PlaywrightTimeout):
            if attempt == attempts - 1:
                raise
    wait_for_app(page)


def _search(page: Page, text: str) -> None:
    box = page.get_by_label("Search your photos")
    box.fill(text)
    box.press("Enter")
    wait_for_app(page)


def _shown(page: Page, n: int, exactly: bool = False) -> list[str]:
    """The first `n` thumbnails once painted; `exactly`: once the page shows `n` and no more
    (a rerun that narrows the results has replaced the earlier grid)."""
    page.wait_for_function(EXACTLY_PAINTED if exactly else PAINTED, arg=n, timeout=WAIT_MS)
    alts = page.locator("img.thumb").evaluate_all("imgs => imgs.map(i => i.alt)")
    return [str(a) for a in alts]


def _expected(library: UiLibrary, text: str, tags: tuple[str, ...] = ()) -> list[str]:
    with LibraryService(Settings(data_dir=library.data_dir)) as service:
        hits = service.search(text, parse_filter(tags=tags), SearchOptions(60, min_score=-1.0))
    return [os.path.basename(h.path) for h in hits.results]


def test_a_search_paints_the_ranked_thumbnails(page: Page, ui_library: UiLibrary) -> None:
    assert page.locator("input[type=text]").first.get_attribute("aria-label") == (
        "Search your photos"
    )
    _all_scores(page)
    _search(page, "a red circle")
    assert _shown(page, 15) == _expected(ui_library, "a red circle")
    assert page.get_by_text("15 photos · query").is_visible()
    _shot(page, "search")


def _preview(page: Page, name: str) -> Locator:
    """The photo dialog, once it shows `name`'s preview painted."""
    page.wait_for_function(PREVIEW, arg=name, timeout=WAIT_MS)
    dialog = page.get_by_test_id("stDialog")
    dialog.get_by_text("Camera:").wait_for(timeout=WAIT_MS)
    return dialog


def test_opening_a_result_shows_its_details(page: Page, ui_library: UiLibrary) -> None:
    _all_scores(page)
    _search(page, "a red circle")
    first = _shown(page, 15)[0]
    page.get_by_role("button", name="Open").first.click()
    dialog = _preview(page, first)
    wait_for_app(page)
    text = dialog.inner_text()
    assert str(next(ui_library.photos.rglob(first))) in text.replace("\n", "")
    assert "Camera:" in text and "Download" in text
    sizes = dialog.locator("img.preview").evaluate(
        "i => [i.getBoundingClientRect().width, i.naturalWidth]"
    )
    assert sizes[0] >= 2 * sizes[1] >= 2 * 120, "the preview fills the dialog, scaled up"
    _shot(page, "detail")


def test_clicking_a_point_on_the_map_opens_that_photo(page: Page) -> None:
    page.get_by_text("Collection", exact=True).click()
    wait_for_app(page)
    points = page.locator("[data-testid='stVegaLiteChart'] path[aria-label*='name: photo_']")
    points.first.wait_for(timeout=WAIT_MS)
    label = str(points.nth(3).get_attribute("aria-label"))
    name = next(part.split(": ")[1] for part in label.split("; ") if part.startswith("name: "))
    points.nth(3).dispatch_event("click")
    _preview(page, name)
    wait_for_app(page)
    _shot(page, "map-opened")


def test_an_uploaded_photo_finds_itself(page: Page, ui_library: UiLibrary) -> None:
    _all_scores(page)
    photo = ui_library.photos / "photo_07.jpg"
    page.get_by_test_id("stFileUploaderDropzoneInput").set_input_files(str(photo))
    wait_for_app(page)
    assert _shown(page, 15)[0] == "photo_07.jpg"
    _shot(page, "upload")


def _choose_tag(page: Page, label: str, attempts: int = 3) -> None:
    """Pick `label` in the tag filter, as a user would: type it, click its option, and pick it
    again when its chip did not appear (under heavy load a pick made while a rerun is drawing
    the combobox was seen lost once in CI)."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    chip = page.locator(
        f"[data-testid='stMultiSelectTagsContainer'] [data-tag][aria-label='{label}']"
    ).first
    for attempt in range(attempts):
        wait_for_app(page)
        page.get_by_role("combobox").first.click()
        page.keyboard.press("ControlOrMeta+a")
        page.keyboard.press("Backspace")
        page.keyboard.type(label)
        page.get_by_role("option", name=label, exact=True).click(timeout=WAIT_MS)
        try:
            chip.wait_for(state="attached", timeout=WAIT_MS // 3)
            return
        except PlaywrightTimeout:
            if attempt == attempts - 1:
                raise


def test_a_tag_filter_narrows_the_results(page: Page, ui_library: UiLibrary) -> None:
    with LibraryService(Settings(data_dir=ui_library.data_dir)) as service:
        label, count = next((lb, n) for _, lb, n in service.tag_counts() if 0 < n < 15)
    _all_scores(page)
    _search(page, "a photo")
    page.get_by_text("Filters").click()
    wait_for_app(page)
    _choose_tag(page, label)
    page.keyboard.press("Escape")
    wait_for_app(page)
    shown = _shown(page, count, exactly=True)
    assert shown == _expected(ui_library, "a photo", (label,)) and len(shown) == count
    _shot(page, "tag-filter")
