"""The photo dialog's caption and chat in a real browser, against the suite's OpenAI-compatible
fake chat server configured as the UI's vision-language endpoint; then, with that server gone,
the one line a user sees."""

from __future__ import annotations

from contextlib import ExitStack
from typing import TYPE_CHECKING

import pytest

from tests.openai_server import ANSWER_PIECES, openai_server
from tests.ui.browser import (
    ARTEFACTS,
    CHROMIUM,
    PAINTED,
    PREVIEW,
    WAIT_MS,
    browser_page,
    running_ui,
    wait_for_app,
)
from tests.ui.conftest import UiLibrary

if TYPE_CHECKING:
    from playwright.sync_api import Locator

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason="needs Debian's chromium at /usr/bin/chromium (apt-get install -y chromium)",
)
ANSWER = "".join(ANSWER_PIECES)


def _ask(dialog: Locator, question: str) -> None:
    box = dialog.get_by_placeholder("Ask about this photo")
    box.fill(question)
    box.press("Enter")


def test_a_photo_gets_a_caption_and_a_streamed_answer(ui_library: UiLibrary) -> None:
    with ExitStack() as stack:
        url, server = stack.enter_context(openai_server())
        vlm = {
            "SEARCHAPP_VLM_BACKEND": "openai",
            "SEARCHAPP_VLM_URL": url,
            "SEARCHAPP_VLM_MODEL": "fake-vlm-ui",
        }
        with running_ui(ui_library.data_dir, env=vlm) as ui, browser_page(ui) as page:
            box = page.get_by_label("Search your photos")
            box.fill("a red circle")
            box.press("Enter")
            page.wait_for_function(PAINTED, arg=1, timeout=WAIT_MS)
            name = page.locator("img.thumb").first.get_attribute("alt")
            page.get_by_role("button", name="Open").first.click()
            page.wait_for_function(PREVIEW, arg=name, timeout=WAIT_MS)
            dialog = page.get_by_test_id("stDialog")
            dialog.get_by_role("button", name="Write a caption").click()
            dialog.get_by_text(ANSWER, exact=True).wait_for(timeout=WAIT_MS)
            _ask(dialog, "What is the dog doing?")
            dialog.get_by_test_id("stChatMessage").filter(has_text=ANSWER).wait_for(timeout=WAIT_MS)
            wait_for_app(page)
            messages = dialog.get_by_test_id("stChatMessage").all_inner_texts()
            ARTEFACTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(ARTEFACTS / "assistant.png"))
            stack.close()  # the endpoint goes away
            _ask(dialog, "And now?")
            error = dialog.get_by_test_id("stAlertContentError")
            error.wait_for(timeout=WAIT_MS)
            failure = error.inner_text()
    # each message's text ends with what was said (after its avatar's icon name)
    assert [m.strip().splitlines()[-1] for m in messages] == ["What is the dog doing?", ANSWER]
    caption, asked = server.requests
    assert not caption.get("stream") and asked["stream"] is True
    assert "What is the dog doing?" in str(asked["messages"][-1]["content"])
    assert "data:image/jpeg;base64," in str(asked["messages"][-1]["content"])
    assert failure.startswith(f"Cannot reach the VLM endpoint {url}") and "\n" not in failure
