"""The schema comes from Alembic migrations; the fast "is it current" check knows the head."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import inspect

from searchapp.store import Store
from searchapp.store.migrate import ALEMBIC_INI, HEAD_REVISION, current_revision


def test_head_revision_constant_is_alembics_head() -> None:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(Config(str(ALEMBIC_INI))).get_current_head()

    assert head == HEAD_REVISION


def test_new_library_is_migrated_to_head_with_every_table(tmp_path: Path) -> None:
    store = Store(tmp_path / "library.sqlite3")

    with store.engine.connect() as conn:
        tables = set(inspect(conn).get_table_names())
        revision = current_revision(conn)
    store.close()

    assert revision == HEAD_REVISION
    assert {"files", "images", "models", "embeddings", "library_state"} <= tables


def test_reopening_a_current_library_does_not_import_alembic(tmp_path: Path) -> None:
    import subprocess
    import sys

    Store(tmp_path / "library.sqlite3").close()
    code = (
        "import sys; from pathlib import Path; from searchapp.store import Store; "
        f"Store(Path({str(tmp_path / 'library.sqlite3')!r})).close(); "
        "print('alembic' in sys.modules)"
    )

    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)

    assert out.stdout.strip() == "False"


def _library_at(database: Path, revision: str) -> None:
    from alembic import command
    from alembic.config import Config
    from sqlalchemy import create_engine

    engine = create_engine(f"sqlite:///{database}")
    with engine.begin() as conn:
        config = Config(str(ALEMBIC_INI))
        config.attributes["connection"] = conn
        command.upgrade(config, revision)
    engine.dispose()


def test_upgrade_rewrites_paths_with_a_backslash_to_their_shown_form(tmp_path: Path) -> None:
    import sqlite3

    database = tmp_path / "library.sqlite3"
    _library_at(database, "0007_ann")
    old = ["/p/a\\b.jpg", "/p/a\\\\b.jpg", "/p/tab\there.jpg", "/p/plain.jpg"]
    with sqlite3.connect(database) as conn:
        conn.executemany(
            "INSERT INTO files (path, size, mtime_ns, status, indexed_at) "
            "VALUES (?, 1, 1, 'ok', 0)",
            [(path,) for path in old],
        )

    store = Store(database)
    ids = [store.photos.photo_id_of(path) for path in old]
    store.close()
    with sqlite3.connect(database) as conn:
        stored = [row[0] for row in conn.execute("SELECT path FROM files ORDER BY id")]

    assert stored == ["/p/a\\\\b.jpg", "/p/a\\\\\\\\b.jpg", "/p/tab\\x09here.jpg", "/p/plain.jpg"]
    assert ids == [1, 2, 3, 4]  # each old path still finds its own row
