"""The application layer: the core never imports a front end or the indexer package; a model is
loaded once however many callers ask at the same moment; index runners come from the registry."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, ClassVar

import pytest

from searchapp.config import Settings
from searchapp.errors import SearchAppError
from searchapp.indexing import IndexSummary, ProgressCallback, index_runner, register_index_runner
from searchapp.models.base import ModelSpec
from searchapp.service import IndexRequest, LibraryService
from tests.conftest import CliRunner, TinyModel

CORE = (
    "searchapp.service",
    "searchapp.search",
    "searchapp.query",
    "searchapp.filters",
    "searchapp.cutoff",
    "searchapp.library",
    "searchapp.indexing",
    "searchapp.store",
    "searchapp.vectors",
    "searchapp.tagging.tagger",
    "searchapp.image_input",
    "searchapp.service_status",
)
FRONT_ENDS = ("searchapp.cli", "searchapp.api", "ui", "indexer")


def test_the_core_imports_no_front_end_and_not_the_indexer() -> None:
    code = (
        "import importlib, json, sys\n"
        f"for name in {CORE!r}: importlib.import_module(name)\n"
        "print(json.dumps(sorted(sys.modules)))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = json.loads(done.stdout)

    offending = [m for m in loaded if any(m == f or m.startswith(f + ".") for f in FRONT_ENDS)]
    assert offending == []


def test_concurrent_callers_load_the_model_once(
    cli: CliRunner,
    tiny_model: TinyModel,
    photo_dir: Path,
    data_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cli("index", str(photo_dir), *tiny_model.flags, "--no-tag")
    from searchapp.models.runtime import RuntimeLoader

    loads: list[str] = []
    real_load = RuntimeLoader.load

    def counting_load(self: RuntimeLoader) -> Any:
        loads.append(threading.current_thread().name)
        return real_load(self)

    monkeypatch.setattr(RuntimeLoader, "load", counting_load)
    with LibraryService(Settings(data_dir=data_dir, precision="fp32")) as service:
        model = service.query_model()
        start = threading.Barrier(8)
        got: list[object] = []

        def ask() -> None:
            start.wait()
            got.append(service.embedder(model))

        threads = [threading.Thread(target=ask) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    assert len(loads) == 1
    assert len(got) == 8 and all(embedder is got[0] for embedder in got)


class RecordingRunner:
    runs: ClassVar[list[list[str]]] = []

    def __init__(self, *args: object) -> None:
        self.args = args

    def run(self, roots: Iterable[str], progress: ProgressCallback | None = None) -> IndexSummary:
        RecordingRunner.runs.append(list(roots))
        return IndexSummary(scanned=len(RecordingRunner.runs))


def test_index_runs_the_runner_named_in_the_request(
    tiny_model: TinyModel, photo_dir: Path, data_dir: Path
) -> None:
    register_index_runner("recording", RecordingRunner)
    spec = ModelSpec(tiny_model.name, str(tiny_model.checkpoint), tiny_model.config_path)
    request = IndexRequest(spec, tag=False, runner="recording")

    with LibraryService(Settings(data_dir=data_dir, precision="fp32")) as service:
        report = service.index([photo_dir], request)

    assert RecordingRunner.runs == [[str(photo_dir)]]
    assert report.summary.scanned == 1


def test_an_unknown_index_runner_is_one_clear_error() -> None:
    with pytest.raises(SearchAppError, match=r"Unknown index runner 'cluster'; known: .*local"):
        index_runner("cluster")


def run_search(cli: CliRunner, *args: str) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = json.loads(cli("search", *args, "--json").stdout)
    return result


def test_search_flags_reach_the_application_layer(
    cli: CliRunner, tiny_model: TinyModel, photo_dir: Path
) -> None:
    cli("index", str(photo_dir), *tiny_model.flags, "--no-tag")
    everything = run_search(cli, "a photo", "--top-k", "12")

    trip = run_search(cli, "a photo", "--folder", str(photo_dir / "trip"), "--top-k", "12")
    second_page = run_search(cli, "a photo", "--top-k", "4", "--offset", "4")
    newest = run_search(cli, "a photo", "--sort", "date", "--type", "jpeg", "--after", "2000-01-01")
    auto = run_search(cli, "a photo", "--min-score", "auto", "--top-k", "12")

    assert [r["path"] for r in trip] == [
        r["path"] for r in everything if r["path"].startswith(str(photo_dir / "trip") + "/")
    ]
    assert [r["path"] for r in second_page] == [r["path"] for r in everything[4:8]]
    assert [r["taken_at"] for r in newest] == sorted((r["taken_at"] for r in newest), reverse=True)
    assert {"id", "score", "path", "taken_at", "width", "height"} <= set(everything[0])
    assert [r["path"] for r in auto] == [r["path"] for r in everything][: len(auto)]


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (("--min-score", "nan"), "between -1 and 1"),
        (("--after", "last week"), "must be a date"),
        (("--type", "docx"), "Unknown file type"),
    ],
)
def test_bad_search_flags_are_one_line(
    cli: CliRunner, tiny_model: TinyModel, photo_dir: Path, flags: Sequence[str], message: str
) -> None:
    cli("index", str(photo_dir), *tiny_model.flags, "--no-tag")

    result = cli("search", "a photo", *flags, check=False)

    assert result.returncode == 1
    assert message in result.stderr and "Traceback" not in result.stderr
