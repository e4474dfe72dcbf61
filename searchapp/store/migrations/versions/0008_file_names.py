"""file names as bytes: paths are stored in their shown form (a backslash written `\\\\`, a
control character `\\xNN`; bytes that are not UTF-8, indexed from now on, `\\xNN` too), so any
name the OS allows has exactly one lossless, valid-UTF-8 key. Rows whose path holds a backslash
or a control character are rewritten; every other row keeps its value.

Revision ID: 0008_file_names
Revises: 0007_ann
Create Date: 2026-12-01
"""

from collections.abc import Callable

import sqlalchemy as sa
from alembic import op

revision = "0008_file_names"
down_revision = "0007_ann"
branch_labels = None
depends_on = None

PATH_TABLES = ("files", "library_roots", "indexer_errors")


def _shown(path: str) -> str:
    out = []
    for char in path:
        code = ord(char)
        if char == "\\":
            out.append("\\\\")
        elif code < 0x20 or code == 0x7F:
            out.append(f"\\x{code:02x}")
        else:
            out.append(char)
    return "".join(out)


def _unshown(shown: str) -> str:
    """Back to the old form; a byte that is not UTF-8 stays written `\\xNN` (the old schema
    cannot hold it: the old indexer takes that row for a gone file)."""
    out, i = [], 0
    while i < len(shown):
        pair = shown[i : i + 2]
        code = shown[i + 2 : i + 4]
        if pair == "\\\\":
            out.append("\\")
            i += 2
        elif pair == "\\x" and len(code) == 2 and int(code, 16) < 0x80:
            out.append(chr(int(code, 16)))
            i += 4
        else:
            out.append(shown[i])
            i += 1
    return "".join(out)


def _rewrite(table_name: str, convert: Callable[[str], str], longest_first: bool) -> None:
    """Rewrite each changed path, in an order that never puts two rows on one key at any step
    (shown keys grow: longest first; the way back shrinks them: shortest first)."""
    conn = op.get_bind()
    table = sa.table(table_name, sa.column("id", sa.Integer), sa.column("path", sa.String))
    rows = conn.execute(sa.select(table.c.id, table.c.path).where(table.c.path.is_not(None)))
    changed = [(row.id, row.path, convert(row.path)) for row in rows]
    changed = [item for item in changed if item[2] != item[1]]
    changed.sort(key=lambda item: len(item[1]), reverse=longest_first)
    for row_id, _, new in changed:
        conn.execute(sa.update(table).where(table.c.id == row_id).values(path=new))


def upgrade() -> None:
    for name in PATH_TABLES:
        _rewrite(name, _shown, longest_first=True)


def downgrade() -> None:
    for name in PATH_TABLES:
        _rewrite(name, _unshown, longest_first=False)
