"""initial schema: models, images, files, embeddings, library_state

Revision ID: 0001_initial
Revises:
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "0001_initial"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "models",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("key", sa.String, nullable=False, unique=True),
        sa.Column("backend", sa.String, nullable=False),
        sa.Column("name", sa.String, nullable=False),
        sa.Column("weights", sa.String, nullable=False),
        sa.Column("config_hash", sa.String, nullable=False),
        sa.Column("pretrained", sa.String),
        sa.Column("config_json", sa.Text),
        sa.Column("dim", sa.Integer, nullable=False),
    )
    op.create_table(
        "images",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("content_hash", sa.String, nullable=False, unique=True),
        sa.Column("width", sa.Integer, nullable=False),
        sa.Column("height", sa.Integer, nullable=False),
        sa.Column("captured_at", sa.String),
        sa.Column("camera", sa.String),
        sa.Column("orientation", sa.Integer),
    )
    op.create_table(
        "files",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("path", sa.String, nullable=False, unique=True),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("mtime_ns", sa.BigInteger, nullable=False),
        sa.Column("content_hash", sa.String),
        sa.Column("image_id", sa.Integer, sa.ForeignKey("images.id", ondelete="SET NULL")),
        sa.Column("status", sa.String, nullable=False),
        sa.Column("error", sa.Text),
        sa.Column("indexed_at", sa.Float, nullable=False),
    )
    op.create_index("ix_files_image_id", "files", ["image_id"])
    op.create_index("ix_files_status", "files", ["status"])
    op.create_table(
        "embeddings",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "image_id",
            sa.Integer,
            sa.ForeignKey("images.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column(
            "model_id",
            sa.Integer,
            sa.ForeignKey("models.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("vector", sa.LargeBinary, nullable=False),
        sa.UniqueConstraint("image_id", "model_id", name="uq_embeddings_image_model"),
    )
    op.create_index("ix_embeddings_model_id", "embeddings", ["model_id"])
    op.create_table(
        "library_state",
        sa.Column("key", sa.String, primary_key=True),
        sa.Column("value", sa.String, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("library_state")
    op.drop_index("ix_embeddings_model_id", "embeddings")
    op.drop_table("embeddings")
    op.drop_index("ix_files_status", "files")
    op.drop_index("ix_files_image_id", "files")
    op.drop_table("files")
    op.drop_table("images")
    op.drop_table("models")
