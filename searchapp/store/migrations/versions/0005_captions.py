"""captions: one caption per image with the model and prompt that wrote it, indexed with FTS5
(external content, kept in step by triggers) for hybrid search; on PostgreSQL a GIN index on
the caption's English tsvector instead (no triggers needed)

Revision ID: 0005_captions
Revises: 0004_library_identity
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0005_captions"
down_revision = "0004_library_identity"
branch_labels = None
depends_on = None

FTS_INSERT = "INSERT INTO captions_fts(rowid, text) VALUES (new.image_id, new.text)"
FTS_DELETE = (
    "INSERT INTO captions_fts(captions_fts, rowid, text) VALUES ('delete', old.image_id, old.text)"
)

# Must match caption_store's query expression exactly, or PostgreSQL will not use the index.
PG_TSVECTOR = "to_tsvector('english', text)"


def upgrade() -> None:
    op.create_table(
        "captions",
        sa.Column(
            "image_id",
            sa.Integer,
            sa.ForeignKey("images.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("model", sa.String, nullable=False),
        sa.Column("prompt", sa.Text, nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    op.create_index("ix_captions_model", "captions", ["model"])
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"CREATE INDEX ix_captions_text_search ON captions USING GIN ({PG_TSVECTOR})")
        return
    op.execute(
        "CREATE VIRTUAL TABLE captions_fts USING fts5(text, content='captions', "
        "content_rowid='image_id', tokenize='porter unicode61 remove_diacritics 2')"
    )
    op.execute(
        f"CREATE TRIGGER captions_fts_insert AFTER INSERT ON captions BEGIN {FTS_INSERT}; END"
    )
    op.execute(
        f"CREATE TRIGGER captions_fts_delete AFTER DELETE ON captions BEGIN {FTS_DELETE}; END"
    )
    op.execute(
        "CREATE TRIGGER captions_fts_update AFTER UPDATE ON captions "
        f"BEGIN {FTS_DELETE}; {FTS_INSERT}; END"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_captions_text_search")
        op.drop_index("ix_captions_model", "captions")
        op.drop_table("captions")
        return
    op.execute("DROP TRIGGER IF EXISTS captions_fts_update")
    op.execute("DROP TRIGGER IF EXISTS captions_fts_delete")
    op.execute("DROP TRIGGER IF EXISTS captions_fts_insert")
    op.execute("DROP TABLE IF EXISTS captions_fts")
    op.drop_index("ix_captions_model", "captions")
    op.drop_table("captions")
