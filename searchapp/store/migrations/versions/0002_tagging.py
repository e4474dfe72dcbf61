"""zero-shot tagging: vocabularies, cached label embeddings, tags and tag coverage

Revision ID: 0002_tagging
Revises: 0001_initial
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "0002_tagging"
down_revision = "0001_initial"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "vocabularies",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String, nullable=False, unique=True),
        sa.Column("labels_json", sa.Text, nullable=False),
        sa.Column("templates_json", sa.Text, nullable=False),
        sa.Column("threshold", sa.Float),
        sa.Column("top_k", sa.Integer, nullable=False),
        sa.Column("source", sa.String),
        sa.Column("updated_at", sa.Float, nullable=False),
    )
    op.create_table(
        "label_embeddings",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "vocabulary_id",
            sa.Integer,
            sa.ForeignKey("vocabularies.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column(
            "model_id", sa.Integer, sa.ForeignKey("models.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("fingerprint", sa.String, nullable=False),
        sa.Column("family", sa.String, nullable=False),
        sa.Column("logit_scale", sa.Float, nullable=False),
        sa.Column("logit_bias", sa.Float),
        sa.Column("vectors", sa.LargeBinary, nullable=False),
        sa.UniqueConstraint(
            "vocabulary_id", "model_id", name="uq_label_embeddings_vocabulary_model"
        ),
    )
    op.create_table(
        "tags",
        sa.Column(
            "vocabulary_id",
            sa.Integer,
            sa.ForeignKey("vocabularies.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column(
            "embedding_id",
            sa.Integer,
            sa.ForeignKey("embeddings.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("label", sa.String, primary_key=True),
        sa.Column("score", sa.Float, nullable=False),
    )
    op.create_index("ix_tags_label", "tags", ["label"])
    op.create_index("ix_tags_embedding_id", "tags", ["embedding_id"])
    op.create_table(
        "tag_coverage",
        sa.Column(
            "vocabulary_id",
            sa.Integer,
            sa.ForeignKey("vocabularies.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column(
            "embedding_id",
            sa.Integer,
            sa.ForeignKey("embeddings.id", ondelete="CASCADE"),
            primary_key=True,
        ),
    )
    op.create_index("ix_tag_coverage_embedding_id", "tag_coverage", ["embedding_id"])


def downgrade() -> None:
    op.drop_table("tag_coverage")
    op.drop_table("tags")
    op.drop_table("label_embeddings")
    op.drop_table("vocabularies")
