"""The same photos indexed into SQLite and into PostgreSQL give the same results, from the CLI and
from `serve`'s HTTP API; a PostgreSQL that cannot be used is one line at start."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from searchapp.config import Settings
from searchapp.service import LibraryService
from tests.api.server import running_server
from tests.conftest import CliRunner, TinyModel
from tests.postgres_server import PostgresServer

EXACT = {"SEARCHAPP_FAST_JPEG_DECODE": "false"}


def _ranked(results: list[dict[str, Any]]) -> list[tuple[str, float]]:
    return [(str(r["path"]), round(float(r["score"]), 5)) for r in results]


@pytest.fixture
def both_indexed(
    cli: CliRunner, tiny_model: TinyModel, photo_dir: Path, tmp_path: Path, postgres_url: str
) -> dict[str, dict[str, str]]:
    """The environment of each library: SQLite in one data dir, PostgreSQL behind another."""
    libraries = {
        "sqlite": {**EXACT, "SEARCHAPP_DATA_DIR": str(tmp_path / "sqlite-data")},
        "postgresql": {
            **EXACT,
            "SEARCHAPP_DATA_DIR": str(tmp_path / "pg-data"),
            "SEARCHAPP_DATABASE_URL": postgres_url,
        },
    }
    for env in libraries.values():
        cli("index", str(photo_dir), *tiny_model.flags, "--json", env=env)
    return libraries


def test_cli_searches_give_the_same_results_on_both_stores(
    cli: CliRunner, both_indexed: dict[str, dict[str, str]], photo_dir: Path
) -> None:
    queries = [
        ("search", "a red circle on a blue background", "--top-k", "12"),
        ("search", "kids on a beach", "--folder", str(photo_dir / "trip")),
        ("search", "a photo", "--sort", "date", "--top-k", "5"),
        ("similar", str(photo_dir / "photo_04.jpg"), "-k", "6"),
    ]
    for query in queries:
        sqlite, postgresql = (
            _ranked(json.loads(cli(*query, "--json", env=env).stdout))
            for env in both_indexed.values()
        )
        assert sqlite == postgresql and sqlite, query
    counts = [json.loads(cli("tags", "--json", env=env).stdout) for env in both_indexed.values()]
    assert counts[0] == counts[1]
    doctor = json.loads(cli("doctor", "--json", env=both_indexed["postgresql"]).stdout)
    assert doctor["healthy"] and {f["part"] for f in doctor["findings"]} >= {"store", "index"}


def test_served_api_gives_the_same_results_on_both_stores(
    both_indexed: dict[str, dict[str, str]],
) -> None:
    answers = []
    for env in both_indexed.values():
        settings = Settings(
            data_dir=Path(env["SEARCHAPP_DATA_DIR"]),
            database_url=env.get("SEARCHAPP_DATABASE_URL"),
            fast_jpeg_decode=False,
        )
        with LibraryService(settings) as service, running_server(service) as url:
            response = httpx.get(f"{url}/search", params={"q": "a green square", "top_k": 8})
            assert response.status_code == 200, response.text
            answers.append(_ranked(response.json()["results"]))

    assert answers[0] == answers[1] and len(answers[0]) == 8


def test_a_stopped_server_is_one_line_at_start(
    cli: CliRunner, tiny_model: TinyModel, photo_dir: Path, own_postgres_server: PostgresServer
) -> None:
    url = own_postgres_server.create_database()
    own_postgres_server.stop()

    result = cli(
        "index", str(photo_dir), *tiny_model.flags, check=False, env={"SEARCHAPP_DATABASE_URL": url}
    )

    assert result.returncode == 1
    where = f"127.0.0.1:{own_postgres_server.port}/{url.rsplit('/', 1)[1]}"
    assert result.stderr.startswith(f"Error: Cannot reach PostgreSQL at {where} (")
    assert "start the server" in result.stderr and "SEARCHAPP_DATABASE_URL" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr


def test_a_missing_database_or_a_wrong_url_is_one_line_at_start(
    cli: CliRunner, postgres_server: PostgresServer
) -> None:
    missing = postgres_server.url("no_such_library")

    no_database = cli("search", "x", check=False, env={"SEARCHAPP_DATABASE_URL": missing})
    wrong_driver = cli(
        "search", "x", check=False, env={"SEARCHAPP_DATABASE_URL": "postgresql://u:secret@h/db"}
    )

    where = f"127.0.0.1:{postgres_server.port}/no_such_library"
    assert no_database.stderr.strip() == (
        f"Error: The PostgreSQL server at {where} has no database 'no_such_library': create it "
        "(`createdb no_such_library`) or fix SEARCHAPP_DATABASE_URL."
    )
    assert wrong_driver.stderr.startswith(
        "Error: SEARCHAPP_DATABASE_URL must look like postgresql+psycopg://"
    )
    assert "secret" not in wrong_driver.stderr
    assert no_database.returncode == wrong_driver.returncode == 1
