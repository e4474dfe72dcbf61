"""filtered search: a covering index on files (path, status, image_id), so a folder filter reads
an index range and never the files' rows (nor every embedding of the model)

Revision ID: 0009_filter_index
Revises: 0008_file_names
Create Date: 2026-12-01
"""

from alembic import op

revision = "0009_filter_index"
down_revision = "0008_file_names"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_files_path_status_image", "files", ["path", "status", "image_id"])


def downgrade() -> None:
    op.drop_index("ix_files_path_status_image", table_name="files")
