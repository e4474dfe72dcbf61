"""Fixtures: a tiny open_clip model made here (never downloaded) and synthetic photos."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.photos import make_photo
from tests.postgres_server import MISSING_REASON, PostgresServer, find_binaries, running_server

TINY_CONFIG = {
    "embed_dim": 32,
    "vision_cfg": {"image_size": 32, "layers": 2, "width": 64, "head_width": 32, "patch_size": 8},
    "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 64, "heads": 2, "layers": 2},
}


@dataclass(frozen=True)
class TinyModel:
    config_path: Path
    checkpoint: Path

    @property
    def name(self) -> str:
        return self.config_path.stem

    @property
    def flags(self) -> list[str]:
        return ["--model-config", str(self.config_path), "--pretrained", str(self.checkpoint)]


@pytest.fixture(scope="session", autouse=True)
def shared_cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One user cache (exported graphs, calibration, label embeddings) for the whole session, as
    a user's is shared by their libraries; never the real one."""
    cache = tmp_path_factory.mktemp("user-cache")
    os.environ["SEARCHAPP_CACHE_DIR"] = str(cache)
    return cache


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> TinyModel:
    """An open_clip config and checkpoint saved to disk, loaded back as users load theirs."""
    import open_clip
    import torch

    directory = tmp_path_factory.mktemp("tiny-model")
    config_path = directory / "tiny-clip.json"
    config_path.write_text(json.dumps(TINY_CONFIG))
    open_clip.add_model_config(config_path)
    torch.manual_seed(0)
    model = open_clip.create_model("tiny-clip")
    checkpoint = directory / "tiny-clip.pt"
    torch.save(model.state_dict(), checkpoint)
    return TinyModel(config_path, checkpoint)


@pytest.fixture
def photo_dir(tmp_path: Path) -> Path:
    """Twelve distinct small photos, some in a subfolder."""
    root = tmp_path / "photos"
    for i in range(12):
        folder = root / "trip" if i % 3 == 0 else root
        make_photo(folder / f"photo_{i:02d}.jpg", seed=i)
    return root


@dataclass(frozen=True)
class CliResult:
    returncode: int
    stdout: str
    stderr: str


CliRunner = Callable[..., CliResult]

BASE_ENV = {
    "SEARCHAPP_PRECISION": "fp32",
    "SEARCHAPP_RUNTIME": "torch",
    "HF_HUB_OFFLINE": "1",
    "COLUMNS": "200",
}


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


def _checked(args: tuple[str, ...], result: CliResult, check: bool) -> CliResult:
    if check and result.returncode != 0:
        raise AssertionError(
            f"searchapp {' '.join(args)} exited {result.returncode}\n"
            f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
        )
    return result


@pytest.fixture
def cli(data_dir: Path) -> CliRunner:
    """Run `searchapp` in-process through typer's runner, on a private data directory."""
    from typer.testing import CliRunner as TyperRunner

    from searchapp.cli.app import app

    def run(*args: str, check: bool = True, env: dict[str, str] | None = None) -> CliResult:
        runner = TyperRunner()
        full_env = {**BASE_ENV, "SEARCHAPP_DATA_DIR": str(data_dir), **(env or {})}
        outcome = runner.invoke(app, list(args), env=full_env)
        if outcome.exception is not None and not isinstance(outcome.exception, SystemExit):
            raise outcome.exception
        return _checked(args, CliResult(outcome.exit_code, outcome.stdout, outcome.stderr), check)

    return run


def run_searchapp(
    data_dir: Path, *args: str, env: dict[str, str] | None = None, timeout: float = 300
) -> CliResult:
    """`searchapp ARGS` in a subprocess, exactly as a user runs it, on `data_dir`."""
    full_env = {**os.environ, **BASE_ENV, "SEARCHAPP_DATA_DIR": str(data_dir), **(env or {})}
    done = subprocess.run(
        [sys.executable, "-m", "searchapp", *args],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=timeout,
    )
    return CliResult(done.returncode, done.stdout, done.stderr)


@pytest.fixture
def cli_process(data_dir: Path) -> CliRunner:
    """Run `searchapp` in a subprocess, exactly as a user does."""

    def run(*args: str, check: bool = True, env: dict[str, str] | None = None) -> CliResult:
        return _checked(args, run_searchapp(data_dir, *args, env=env), check)

    return run


@pytest.fixture(scope="session")
def tiny_llava(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny LLaVA saved with save_pretrained (see tests/tiny_vlm.py)."""
    from tests.tiny_vlm import build_tiny_llava

    return build_tiny_llava(tmp_path_factory.mktemp("tiny-llava"))


@pytest.fixture(scope="session")
def tiny_smolvlm(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny SmolVLM2-style model saved with save_pretrained (see tests/tiny_vlm.py)."""
    from tests.tiny_vlm import build_tiny_smolvlm

    return build_tiny_smolvlm(tmp_path_factory.mktemp("tiny-smolvlm"))


# -- PostgreSQL (tests/postgres_server.py) ---------------------------------------------------
# CI sets SEARCHAPP_REQUIRE_POSTGRES=1: there a missing server or driver fails instead of skipping.


def _postgres_binaries() -> Path:
    binaries = find_binaries()
    reason = MISSING_REASON if binaries is None else None
    try:
        import psycopg  # noqa: F401
    except ImportError:
        reason = "psycopg is not installed: `pip install 'searchapp[scale]'` (psycopg 3)"
    if reason is not None:
        if os.environ.get("SEARCHAPP_REQUIRE_POSTGRES") == "1":
            pytest.fail(reason)
        pytest.skip(reason)
    assert binaries is not None
    return binaries


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One real PostgreSQL server for the session (in a temporary directory)."""
    with running_server(_postgres_binaries()) as server:
        yield server


@pytest.fixture
def own_postgres_server() -> Iterator[PostgresServer]:
    """A server of this test's own, which it may stop and start again."""
    with running_server(_postgres_binaries()) as server:
        yield server


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> str:
    """`postgresql+psycopg://…` of a new, empty database on the session's server."""
    return postgres_server.create_database()


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Path | str:
    """Each metadata store in turn: what `Store(...)` opens (and SEARCHAPP_DATABASE_URL holds)."""
    if request.param == "sqlite":
        return tmp_path / "data" / "library.sqlite3"
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture
def database_env(database: Path | str) -> dict[str, str]:
    """The environment that points `searchapp` at `database` (empty for SQLite in the data dir)."""
    return {} if isinstance(database, Path) else {"SEARCHAPP_DATABASE_URL": database}


@pytest.fixture
def without_rawpy(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """This process as an install without the `[raw]` extra: `import rawpy` fails."""
    from indexer.formats import readable_extensions
    from searchapp.raw_photos import rawpy_available

    monkeypatch.setitem(sys.modules, "rawpy", None)
    rawpy_available.cache_clear()
    readable_extensions.cache_clear()
    yield
    monkeypatch.undo()
    rawpy_available.cache_clear()
    readable_extensions.cache_clear()
