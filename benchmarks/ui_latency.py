"""The UI's speed as a user sees it, in Debian's chromium: from pressing Enter in the search box
to the 50th result thumbnail painted, and from clicking a result's "Open" to its preview
painted in the side panel. Runs `searchapp ui` on a library (default: the demo's), one warm-up
search, then QUERIES in turn for --rounds rounds; prints medians as JSON.

    python benchmarks/ui_latency.py --data-dir /tmp/demo-data/demo/library
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from _common import emit, log, machine_info

QUERIES = (
    "a small purple triangle",
    "a large red circle",
    "a green square on a white background",
    "a blue star",
    "a yellow cross",
)
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PAINTED = """n => {
  const imgs = Array.from(document.querySelectorAll('img.thumb')).filter(i => !i.dataset.old);
  return imgs.length >= n && imgs.slice(0, n).every(i => i.complete && i.naturalWidth > 0);
}"""
"""The first n thumbnails of the new results painted (`ARM` marks those already on the page)."""
PREVIEW = """name => {
  const i = document.querySelector("[data-testid='stDialog'] img.preview");
  return i && i.alt === name && i.complete && i.naturalWidth > 0;
}"""
ARM = "() => document.querySelectorAll('img.thumb').forEach(i => { i.dataset.old = '1'; })"
NO_DIALOG = "() => !document.querySelector(\"[data-testid='stDialog']\")"


def _wait_for_app(page: object) -> None:
    from playwright.sync_api import Page

    assert isinstance(page, Page)
    page.wait_for_selector("[data-testid='stApp'][data-test-connection-state='CONNECTED']")
    page.wait_for_selector("[data-testid='stApp'][data-test-script-state='notRunning']")


def _start(data_dir: Path, port: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "SEARCHAPP_DATA_DIR": str(data_dir)}
    command = [sys.executable, "-m", "searchapp", "ui", "--port", str(port)]
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL)
    for _ in range(300):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2)
            return process
        except OSError:
            time.sleep(0.3)
    process.terminate()
    raise SystemExit("searchapp ui did not start")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data-dir", type=Path, default=Path("/tmp/demo-data/demo/library"))
    parser.add_argument("--port", type=int, default=8599)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--min-score", type=float, default=-1.0, help="the slider (auto off)")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    process = _start(args.data_dir, args.port)
    search_ms: list[float] = []
    open_ms: list[float] = []
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS
            )
            page = browser.new_page(viewport={"width": 1600, "height": 1000})
            page.set_default_timeout(120_000)
            page.goto(f"http://127.0.0.1:{args.port}/")
            _wait_for_app(page)
            page.get_by_text("Auto cutoff").click()
            _wait_for_app(page)
            page.get_by_role("slider").focus()
            page.keyboard.press("Home")
            _wait_for_app(page)
            box = page.get_by_label("Search your photos")
            for rnd in range(args.rounds + 1):
                for query in QUERIES:
                    box.fill(f"{query} {rnd}")
                    page.evaluate(ARM)
                    started = page.evaluate("performance.now()")
                    box.press("Enter")
                    page.wait_for_function(PAINTED, arg=50, polling="raf")
                    painted = page.evaluate("performance.now()")
                    _wait_for_app(page)
                    name = page.locator("img.thumb").nth(7).get_attribute("alt")
                    clicked = page.evaluate("performance.now()")
                    page.get_by_role("button", name="Open").nth(7).click()
                    page.wait_for_function(PREVIEW, arg=name, polling="raf")
                    opened = page.evaluate("performance.now()")
                    _wait_for_app(page)
                    page.keyboard.press("Escape")
                    page.wait_for_function(NO_DIALOG, polling="raf")
                    _wait_for_app(page)
                    if rnd > 0:  # round 0 warms the model, the thumbnails and the page
                        search_ms.append(painted - started)
                        open_ms.append(opened - clicked)
                    log(
                        f"{query!r}: 50 painted {painted - started:.0f} ms, "
                        f"open {opened - clicked:.0f} ms"
                    )
            browser.close()
    finally:
        process.terminate()
        process.wait()
    emit(
        {
            "data_dir": str(args.data_dir),
            "runs": len(search_ms),
            "enter_to_50th_thumbnail_ms": {
                "median": round(statistics.median(search_ms), 1),
                "min": round(min(search_ms), 1),
                "max": round(max(search_ms), 1),
            },
            "open_to_preview_painted_ms": {
                "median": round(statistics.median(open_ms), 1),
                "min": round(min(open_ms), 1),
                "max": round(max(open_ms), 1),
            },
            "load_average": os.getloadavg(),
            "uptime": subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip(),
            "machine": machine_info(),
        }
    )


if __name__ == "__main__":
    main()
