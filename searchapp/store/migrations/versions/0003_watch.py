"""background indexer: library roots, ignore patterns, indexer status and errors, and a counter
of removed or changed vectors (kept by triggers) so readers know when adding rows is enough

Revision ID: 0003_watch
Revises: 0002_tagging
Create Date: 2026-11-24
"""

import time

import sqlalchemy as sa
from alembic import op

revision = "0003_watch"
down_revision = "0002_tagging"
branch_labels = None
depends_on = None

# The defaults when this migration was written; users change them with `searchapp roots ignore`.
DEFAULT_IGNORE_PATTERNS = (
    ".*",
    ".git",
    ".Trash*",
    ".thumbnails",
    "@eaDir",
    "#recycle",
    "#snapshot",
    "__MACOSX",
    "$RECYCLE.BIN",
    "lost+found",
    "node_modules",
)

BUMP_REMOVED = (
    "UPDATE library_state SET value = CAST(CAST(value AS INTEGER) + 1 AS TEXT) "
    "WHERE key = 'vectors_removed'"
)
# PostgreSQL: one statement-level trigger function per event, counting the statement's rows
# (transition tables); an update counts only rows whose vector really changed.
PG_BUMP = (
    "UPDATE library_state SET value = CAST(CAST(value AS BIGINT) + {count} AS TEXT) "
    "WHERE key = 'vectors_removed'"
)
PG_FUNCTION = (
    "CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$ "
    "BEGIN {body}; RETURN NULL; END $$"
)
PG_REMOVED_COUNT = "(SELECT count(*) FROM old_rows)"
PG_CHANGED_COUNT = (
    "(SELECT count(*) FROM old_rows o JOIN new_rows n ON n.id = o.id "
    "WHERE n.vector IS DISTINCT FROM o.vector)"
)


def _postgresql_triggers() -> None:
    op.execute(
        PG_FUNCTION.format(
            name="searchapp_embeddings_removed", body=PG_BUMP.format(count=PG_REMOVED_COUNT)
        )
    )
    op.execute(
        PG_FUNCTION.format(
            name="searchapp_embeddings_vector_changed",
            body=PG_BUMP.format(count=PG_CHANGED_COUNT),
        )
    )
    op.execute(
        "CREATE TRIGGER embeddings_removed AFTER DELETE ON embeddings "
        "REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT "
        "EXECUTE FUNCTION searchapp_embeddings_removed()"
    )
    op.execute(
        "CREATE TRIGGER embeddings_vector_changed AFTER UPDATE ON embeddings "
        "REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT "
        "EXECUTE FUNCTION searchapp_embeddings_vector_changed()"
    )


def upgrade() -> None:
    op.create_table(
        "library_roots",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("path", sa.String, nullable=False, unique=True),
        sa.Column("added_at", sa.Float, nullable=False),
    )
    patterns = op.create_table(
        "ignore_patterns",
        sa.Column("pattern", sa.String, primary_key=True),
        sa.Column("added_at", sa.Float, nullable=False),
    )
    now = time.time()
    op.bulk_insert(patterns, [{"pattern": p, "added_at": now} for p in DEFAULT_IGNORE_PATTERNS])
    op.create_table(
        "indexer_status",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("state", sa.String, nullable=False),
        sa.Column("pid", sa.Integer, nullable=False),
        sa.Column("host", sa.String, nullable=False),
        sa.Column("started_at", sa.Float, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
        sa.Column("queue_length", sa.Integer, nullable=False),
        sa.Column("rate", sa.Float, nullable=False),
        sa.Column("indexed", sa.Integer, nullable=False),
        sa.Column("removed", sa.Integer, nullable=False),
        sa.Column("failed", sa.Integer, nullable=False),
        sa.Column("last_full_scan_at", sa.Float),
        sa.Column("last_full_scan_seconds", sa.Float),
        sa.Column("message", sa.Text),
    )
    op.create_table(
        "indexer_errors",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("at", sa.Float, nullable=False),
        sa.Column("path", sa.String),
        sa.Column("reason", sa.Text, nullable=False),
    )
    op.execute(
        "INSERT INTO library_state (key, value) VALUES ('vectors_removed', '0') "
        "ON CONFLICT DO NOTHING"
    )
    if op.get_bind().dialect.name == "postgresql":
        _postgresql_triggers()
        return
    op.execute(
        f"CREATE TRIGGER embeddings_removed AFTER DELETE ON embeddings BEGIN {BUMP_REMOVED}; END"
    )
    op.execute(
        "CREATE TRIGGER embeddings_vector_changed AFTER UPDATE OF vector ON embeddings "
        f"BEGIN {BUMP_REMOVED}; END"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS embeddings_vector_changed ON embeddings")
        op.execute("DROP TRIGGER IF EXISTS embeddings_removed ON embeddings")
        op.execute("DROP FUNCTION IF EXISTS searchapp_embeddings_vector_changed()")
        op.execute("DROP FUNCTION IF EXISTS searchapp_embeddings_removed()")
    else:
        op.execute("DROP TRIGGER IF EXISTS embeddings_vector_changed")
        op.execute("DROP TRIGGER IF EXISTS embeddings_removed")
    op.execute("DELETE FROM library_state WHERE key = 'vectors_removed'")
    op.drop_table("indexer_errors")
    op.drop_table("indexer_status")
    op.drop_table("ignore_patterns")
    op.drop_table("library_roots")
