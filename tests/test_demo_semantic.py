"""`searchapp demo` works offline, and its toy model has really learned its world: semantic
search through the real CLI on pictures it never saw in training."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from searchapp.demo.world import COLOURS, HELD_OUT_SEED, SHAPES, Picture, scene_of, write_pictures
from tests.conftest import CliResult, CliRunner, run_searchapp

# Any attempt to reach the network fails at once: the demo must not need it.
OFFLINE_ENV = {
    "HF_HUB_OFFLINE": "1",
    "HTTP_PROXY": "http://127.0.0.1:9",
    "HTTPS_PROXY": "http://127.0.0.1:9",
    "NO_PROXY": "",
}
DEMO_TIMEOUT_S = 600
QUERY_SEED = HELD_OUT_SEED + 7


@dataclass(frozen=True)
class DemoRun:
    data_dir: Path
    output: CliResult
    seconds: float

    @property
    def library(self) -> Path:
        """The demo library's data directory."""
        return self.data_dir / "demo" / "library"

    @property
    def photos(self) -> Path:
        return self.data_dir / "demo" / "photos"


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> DemoRun:
    """One `searchapp demo --no-ui` per test run, offline, in a subprocess: it trains the toy
    model (cached in this data directory) and indexes the demo library."""
    data_dir = tmp_path_factory.mktemp("demo-data")
    started = time.perf_counter()
    result = run_searchapp(data_dir, "demo", "--no-ui", env=OFFLINE_ENV, timeout=DEMO_TIMEOUT_S)
    seconds = time.perf_counter() - started
    assert result.returncode == 0, f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    print(f"searchapp demo --no-ui: {seconds:.0f} s\n{result.stdout}")
    return DemoRun(data_dir, result, seconds)


@pytest.fixture(scope="session")
def query_pictures(tmp_path_factory: pytest.TempPathFactory) -> list[Picture]:
    """Two pictures of every (shape, colour), drawn from seeds neither training nor the demo
    library uses."""
    return write_pictures(tmp_path_factory.mktemp("queries"), 2, QUERY_SEED)


@pytest.fixture
def demo_cli(cli: CliRunner, demo_run: DemoRun) -> Iterator[CliRunner]:
    """`searchapp --data-dir <demo library> ...`, in-process."""

    def run(*args: str) -> CliResult:
        return cli("--data-dir", str(demo_run.library), *args, env=OFFLINE_ENV)

    yield run


def _article(phrase: str) -> str:
    return ("an " if phrase[0] in "aeiou" else "a ") + phrase


def test_demo_runs_offline_and_says_the_model_is_a_toy(demo_run: DemoRun) -> None:
    out = demo_run.output.stdout

    assert "toy model for trying searchapp offline" in out
    assert "Indexed 300" in out and "failed 0" in out
    assert 'search "a red circle"' in out
    assert "  1. " in out.split('search "a red circle"')[1]
    assert demo_run.seconds < 300, f"the demo took {demo_run.seconds:.0f} s"


def test_a_second_demo_run_reuses_the_trained_model(demo_run: DemoRun) -> None:
    started = time.perf_counter()
    again = run_searchapp(demo_run.data_dir, "demo", "--no-ui", env=OFFLINE_ENV, timeout=300)
    seconds = time.perf_counter() - started

    assert again.returncode == 0, again.stderr
    assert "Reusing the toy model trained before" in again.stdout
    assert "unchanged 300" in again.stdout and "0 embedded" in again.stdout
    assert seconds < 60


def test_text_queries_find_the_named_colour_and_shape(demo_cli: CliRunner) -> None:
    """Recall@1 over every "a <colour> <shape>" query: the best match shows both."""
    hits = 0
    misses = []
    for shape in SHAPES:
        for colour in COLOURS:
            query = _article(f"{colour} {shape}")
            top = json.loads(demo_cli("search", query, "--top-k", "1", "--json").stdout)[0]
            found = scene_of(Path(top["path"]))
            if (found.shape, found.colour) == (shape, colour):
                hits += 1
            else:
                misses.append(f"{query} -> {Path(top['path']).name}")
    recall = hits / (len(SHAPES) * len(COLOURS))
    print(f"text->image Recall@1 {recall:.3f}")

    assert recall >= 0.9, f"Recall@1 {recall:.3f}; misses: {misses}"


def test_similar_photos_show_the_same_object_in_the_same_colour(
    demo_cli: CliRunner, query_pictures: list[Picture]
) -> None:
    """Top-5 precision of search by example, with pictures from outside the library."""
    relevant = 0
    for picture in query_pictures:
        results = json.loads(demo_cli("similar", str(picture.path), "-k", "5", "--json").stdout)
        assert len(results) == 5
        for result in results:
            found = scene_of(Path(result["path"]))
            relevant += (found.shape, found.colour) == (picture.scene.shape, picture.scene.colour)
    precision = relevant / (5 * len(query_pictures))
    print(f"image->image top-5 precision {precision:.3f}")

    assert precision >= 0.8, f"top-5 precision {precision:.3f}"


def _has_command(name: str) -> bool:
    from searchapp.cli.app import app

    return any(
        (command.name or (command.callback.__name__ if command.callback else "")) == name
        for command in app.registered_commands
    )


def test_zero_shot_tagging_names_the_shape(
    demo_cli: CliRunner, demo_run: DemoRun, query_pictures: list[Picture]
) -> None:
    """`classify` with the demo's shipped shapes.txt as labels (default prompt templates), as
    the README shows it, names the right one."""
    if not _has_command("classify"):
        pytest.skip("needs `searchapp classify` (zero-shot tagging issue)")
    labels = demo_run.data_dir / "demo" / "shapes.txt"
    assert labels.read_text().split() == list(SHAPES)
    correct = 0
    for picture in query_pictures:
        ranking = json.loads(
            demo_cli("classify", str(picture.path), "--labels", str(labels), "-k", "1", "--json")
            .stdout
        )  # fmt: skip
        correct += ranking[0]["label"] == picture.scene.shape
    accuracy = correct / len(query_pictures)
    print(f"zero-shot shape accuracy {accuracy:.3f}")

    assert accuracy >= 0.9, f"shape accuracy {accuracy:.3f}"
