"""The PostgreSQL server stopped in the middle of `searchapp index`: the run waits with backoff
and resumes when the server is back; when it stays away the run stops with one line, the store
is consistent and a rerun completes.

The indexer is paused (SIGSTOP) after its first committed batches while the server stops, so
the loss always falls in the middle of the run, however fast the machine."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from searchapp.store import Store
from tests.conftest import BASE_ENV, TinyModel
from tests.photos import make_photo
from tests.postgres_server import PostgresServer

PHOTOS = 40


@pytest.fixture
def library(tmp_path: Path) -> Path:
    for seed in range(PHOTOS):
        make_photo(tmp_path / "photos" / f"photo_{seed:02d}.jpg", seed=seed)
    return tmp_path / "photos"


def _files_written(server: PostgresServer, database: str) -> int:
    import psycopg

    dsn = f"host=127.0.0.1 port={server.port} user=postgres dbname={database}"
    try:
        with psycopg.connect(dsn, connect_timeout=2) as conn:
            row = conn.execute("SELECT count(*) FROM files").fetchone()
    except psycopg.Error:  # the schema is not there yet
        return 0
    return int(row[0]) if row else 0


def _start_index(
    library: Path, tiny_model: TinyModel, url: str, data_dir: Path, retry_seconds: float
) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        **BASE_ENV,
        "SEARCHAPP_DATA_DIR": str(data_dir),
        "SEARCHAPP_DATABASE_URL": url,
        "SEARCHAPP_DATABASE_RETRY_SECONDS": str(retry_seconds),
        "SEARCHAPP_BATCH_SIZE": "1",
        "SEARCHAPP_DECODE_WORKERS": "1",
    }
    args = ["-v", "index", str(library), *tiny_model.flags, "--no-tag"]
    return subprocess.Popen(
        [sys.executable, "-m", "searchapp", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _pause_mid_run(indexer: subprocess.Popen[str], server: PostgresServer, database: str) -> int:
    """Wait for the first committed batches, pause the indexer there, and return how many files
    were written by then (fewer than all: the run is really in the middle)."""
    deadline = time.monotonic() + 240
    while _files_written(server, database) < 3:
        assert indexer.poll() is None, indexer.communicate()
        assert time.monotonic() < deadline, "the indexer wrote nothing"
        time.sleep(0.02)
    indexer.send_signal(signal.SIGSTOP)
    written = _files_written(server, database)
    assert written < PHOTOS, "the run finished before it could be interrupted"
    return written


def _assert_consistent(store: Store) -> None:
    """Every stored file is ok with its image and a vector of the library's model."""
    model = store.active_model()
    assert model is not None
    counts = store.vectors.counts()
    assert counts["files_failed"] == 0 and counts["images"] == counts["embeddings"]
    known = store.known_files(["/"], model.id)
    assert all(k.status == "ok" and k.embedded for k in known.values())


def test_a_server_restarted_mid_index_is_waited_for_and_the_run_completes(
    library: Path, tiny_model: TinyModel, own_postgres_server: PostgresServer, tmp_path: Path
) -> None:
    url = own_postgres_server.create_database()
    database = url.rsplit("/", 1)[1]
    indexer = _start_index(library, tiny_model, url, tmp_path / "data", retry_seconds=60)
    _pause_mid_run(indexer, own_postgres_server, database)

    own_postgres_server.stop()
    indexer.send_signal(signal.SIGCONT)
    time.sleep(2)
    own_postgres_server.start()
    _, stderr = indexer.communicate(timeout=240)

    assert indexer.returncode == 0, stderr
    assert "retry" in stderr and "PostgreSQL" in stderr
    store = Store(url)
    assert store.vectors.counts()["files_ok"] == PHOTOS
    _assert_consistent(store)
    store.close()


def test_a_server_that_stays_away_stops_the_run_with_one_line_and_a_rerun_completes(
    library: Path, tiny_model: TinyModel, own_postgres_server: PostgresServer, tmp_path: Path
) -> None:
    url = own_postgres_server.create_database()
    database = url.rsplit("/", 1)[1]
    indexer = _start_index(library, tiny_model, url, tmp_path / "data", retry_seconds=3)
    _pause_mid_run(indexer, own_postgres_server, database)

    own_postgres_server.stop()
    indexer.send_signal(signal.SIGCONT)
    _, stderr = indexer.communicate(timeout=240)
    own_postgres_server.start()

    errors = [line for line in stderr.splitlines() if line.startswith("Error:")]
    assert indexer.returncode == 1
    assert len(errors) == 1 and "Traceback" not in stderr, stderr
    where = f"PostgreSQL at 127.0.0.1:{own_postgres_server.port}/{database}"
    assert where in errors[0] and "run the command again" in errors[0]
    store = Store(url)
    kept = store.vectors.counts()["files_ok"]
    assert 0 < kept < PHOTOS
    _assert_consistent(store)

    again = _start_index(library, tiny_model, url, tmp_path / "data", retry_seconds=3)
    _, stderr = again.communicate(timeout=240)

    assert again.returncode == 0, stderr
    assert store.vectors.counts()["files_ok"] == PHOTOS
    _assert_consistent(store)
    store.close()
