"""paths compare byte by byte on PostgreSQL too: the path columns get the "C" collation, so the
store's folder ranges (`path >= 'F/' AND path < 'F0'`) hold under any database locale (under
en_US or ICU collations punctuation sorts apart from its code point and a range would admit a
sibling folder or miss files). SQLite's default collation (BINARY) already compares bytes.

Revision ID: 0010_path_collation
Revises: 0009_filter_index
Create Date: 2026-12-01
"""

from alembic import op

revision = "0010_path_collation"
down_revision = "0009_filter_index"
branch_labels = None
depends_on = None

PATH_COLUMNS = (("files", "path"), ("library_roots", "path"), ("indexer_errors", "path"))


def _collate(collation: str) -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table, column in PATH_COLUMNS:  # indexes on the column are rebuilt with it
        op.execute(f'ALTER TABLE {table} ALTER COLUMN {column} TYPE VARCHAR COLLATE "{collation}"')


def upgrade() -> None:
    _collate("C")


def downgrade() -> None:
    _collate("default")
