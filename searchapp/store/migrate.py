"""Bring a database to the newest schema with Alembic, on the Store's own connection."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.engine import Connection

ALEMBIC_INI = Path(__file__).with_name("alembic.ini")


def upgrade_to_head(conn: Connection) -> None:
    from alembic import command
    from alembic.config import Config
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    config = Config(str(ALEMBIC_INI))
    head = ScriptDirectory.from_config(config).get_current_head()
    if MigrationContext.configure(conn).get_current_revision() == head:
        return
    config.attributes["connection"] = conn
    command.upgrade(config, "head")
