"""Driving the UI in Debian's chromium through Playwright: the running app on loopback, and
waiting for Streamlit the way its own end-to-end tests do."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import httpx

if TYPE_CHECKING:
    from playwright.sync_api import Page

from tests.conftest import BASE_ENV

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTEFACTS = Path(os.environ.get("SEARCHAPP_TEST_ARTEFACTS", "test-artefacts")) / "ui"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def running_ui(
    data_dir: Path, timeout: float = 120, env: dict[str, str] | None = None
) -> Iterator[str]:
    """`searchapp ui` on `data_dir` (with `env` added), as a user starts it; yields its URL."""
    port = free_port()
    env = {**os.environ, **BASE_ENV, **(env or {}), "SEARCHAPP_DATA_DIR": str(data_dir)}
    command = [sys.executable, "-m", "searchapp", "ui", "--port", str(port)]
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                if httpx.get(f"{url}/_stcore/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                output = process.stdout.read().decode() if process.stdout else ""
                raise AssertionError(f"searchapp ui did not start:\n{output}")
            time.sleep(0.3)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


WAIT_MS = 90_000


@contextmanager
def browser_page(url: str) -> Iterator[Page]:
    """A chromium tab on the running app, once the app's first run is done."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        tab = browser.new_page(viewport={"width": 1400, "height": 1000})
        tab.goto(url)
        wait_for_app(tab)
        try:
            yield tab
        finally:
            browser.close()


def wait_for_app(page: object) -> None:
    """Connected, the script not running, no skeleton left (Streamlit's e2e `wait_for_app_run`)."""
    from playwright.sync_api import Page

    assert isinstance(page, Page)
    page.wait_for_selector(
        "[data-testid='stApp'][data-test-connection-state='CONNECTED']", timeout=WAIT_MS
    )
    page.wait_for_selector(
        "[data-testid='stApp'][data-test-script-state='notRunning']", timeout=WAIT_MS
    )
    page.wait_for_function(
        "document.querySelectorAll(\"[data-testid='stSkeleton']\").length === 0", timeout=WAIT_MS
    )


PAINTED = """n => {
  const imgs = Array.from(document.querySelectorAll('img.thumb'));
  return imgs.length >= n && imgs.slice(0, n).every(i => i.complete && i.naturalWidth > 0);
}"""
PREVIEW = """name => {
  const i = document.querySelector("[data-testid='stDialog'] img.preview");
  return !!i && i.alt === name && i.complete && i.naturalWidth > 0;
}"""
EXACTLY_PAINTED = """n => {
  const imgs = Array.from(document.querySelectorAll('img.thumb'));
  return imgs.length === n && imgs.every(i => i.complete && i.naturalWidth > 0);
}"""
