"""library identity: a random id created with the store, and a revision token that every
committed change replaces, so a vector index can prove it was built from this store as it is

Revision ID: 0004_library_identity
Revises: 0003_watch
Create Date: 2026-12-01
"""

import secrets

import sqlalchemy as sa
from alembic import op

revision = "0004_library_identity"
down_revision = "0003_watch"
branch_labels = None
depends_on = None


def upgrade() -> None:
    state = sa.table("library_state", sa.column("key", sa.String), sa.column("value", sa.String))
    op.bulk_insert(
        state,
        [
            {"key": "library_id", "value": secrets.token_hex(16)},
            {"key": "revision", "value": secrets.token_hex(8)},
        ],
    )


def downgrade() -> None:
    op.execute("DELETE FROM library_state WHERE key IN ('library_id', 'revision')")
