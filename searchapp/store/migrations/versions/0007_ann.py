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
    op.execute(
        "CREATE TRIGGER embeddings_removal_logged AFTER DELETE ON embeddings "
        "BEGIN INSERT INTO vector_removals (embedding_id) VALUES (OLD.id); END"
    )
    op.execute(
        "CREATE TRIGGER embeddings_change_logged AFTER UPDATE OF vector ON embeddings "
        "BEGIN INSERT INTO vector_removals (embedding_id) VALUES (OLD.id); END"
    )
    op.add_column("images", sa.Column("phash", sa.String))


def downgrade() -> None:
    op.drop_column("images", "phash")
    op.execute("DROP TRIGGER IF EXISTS embeddings_change_logged")
    op.execute("DROP TRIGGER IF EXISTS embeddings_removal_logged")
    op.drop_table("vector_removals")
