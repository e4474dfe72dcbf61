"""approximate index and duplicates: a log of removed or changed vectors (kept by triggers), so
a reader holding an index knows which ids to drop without reading every id; and each image's
perceptual hash, for near-duplicate groups

Revision ID: 0007_ann
Revises: 0006_file_identity
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0007_ann"
down_revision = "0006_file_identity"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "vector_removals",
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("embedding_id", sa.Integer, nullable=False),
        sqlite_autoincrement=True,
    )
    if op.get_bind().dialect.name == "postgresql":
        _postgresql_triggers()
    else:
        _sqlite_triggers()
    op.add_column("images", sa.Column("phash", sa.String))


def _sqlite_triggers() -> None:
    op.execute(
        "CREATE TRIGGER embeddings_removal_logged AFTER DELETE ON embeddings "
        "BEGIN INSERT INTO vector_removals (embedding_id) VALUES (OLD.id); END"
    )
    op.execute(
        "CREATE TRIGGER embeddings_change_logged AFTER UPDATE OF vector ON embeddings "
        "BEGIN INSERT INTO vector_removals (embedding_id) VALUES (OLD.id); END"
    )


def _postgresql_triggers() -> None:
    """Statement-level, over the statement's rows; an update logs only changed vectors."""
    op.execute(
        "CREATE FUNCTION searchapp_log_removals() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        "INSERT INTO vector_removals (embedding_id) SELECT id FROM old_rows ORDER BY id; "
        "RETURN NULL; END $$"
    )
    op.execute(
        "CREATE FUNCTION searchapp_log_changes() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        "INSERT INTO vector_removals (embedding_id) SELECT o.id FROM old_rows o "
        "JOIN new_rows n ON n.id = o.id WHERE n.vector IS DISTINCT FROM o.vector ORDER BY o.id; "
        "RETURN NULL; END $$"
    )
    op.execute(
        "CREATE TRIGGER embeddings_removal_logged AFTER DELETE ON embeddings "
        "REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT "
        "EXECUTE FUNCTION searchapp_log_removals()"
    )
    op.execute(
        "CREATE TRIGGER embeddings_change_logged AFTER UPDATE ON embeddings "
        "REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT "
        "EXECUTE FUNCTION searchapp_log_changes()"
    )


def downgrade() -> None:
    op.drop_column("images", "phash")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS embeddings_change_logged ON embeddings")
        op.execute("DROP TRIGGER IF EXISTS embeddings_removal_logged ON embeddings")
        op.execute("DROP FUNCTION IF EXISTS searchapp_log_changes()")
        op.execute("DROP FUNCTION IF EXISTS searchapp_log_removals()")
    else:
        op.execute("DROP TRIGGER IF EXISTS embeddings_change_logged")
        op.execute("DROP TRIGGER IF EXISTS embeddings_removal_logged")
    op.drop_table("vector_removals")
