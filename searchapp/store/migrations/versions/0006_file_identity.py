"""file identity: the change time and inode of each file beside its size and mtime, so a file
whose content was replaced and its mtime restored (`touch -d`) is read again

Revision ID: 0006_file_identity
Revises: 0005_captions
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0006_file_identity"
down_revision = "0005_captions"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # NULL for rows indexed before: such a file is read (and hashed) once more, then known.
    with op.batch_alter_table("files") as batch:
        batch.add_column(sa.Column("ctime_ns", sa.BigInteger))
        batch.add_column(sa.Column("inode", sa.BigInteger))


def downgrade() -> None:
    with op.batch_alter_table("files") as batch:
        batch.drop_column("inode")
        batch.drop_column("ctime_ns")
