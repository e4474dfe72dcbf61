"""Library roots (the folders the background indexer watches) and the ignore patterns that keep
hidden folders, thumbnail caches and trash out of the library."""

from __future__ import annotations

import time

from sqlalchemy import delete, select
from sqlalchemy.engine import Engine

from searchapp.store.dialect import upsert
from searchapp.store.schema import ignore_patterns, library_roots


class LibraryRoots:
    """Roots and ignore patterns, each write its own short transaction."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def paths(self) -> list[str]:
        with self._engine.connect() as conn:
            rows = conn.execute(select(library_roots.c.path).order_by(library_roots.c.path))
            return [str(row.path) for row in rows]

    def add(self, path: str) -> bool:
        """Record an (absolute) root; False when it was one already."""
        with self._engine.begin() as conn:
            added = conn.execute(
                upsert(conn, library_roots)
                .values(path=path, added_at=time.time())
                .on_conflict_do_nothing(index_elements=[library_roots.c.path])
            )
            return bool(added.rowcount)

    def remove(self, path: str) -> bool:
        with self._engine.begin() as conn:
            removed = conn.execute(delete(library_roots).where(library_roots.c.path == path))
            return bool(removed.rowcount)

    def ignore_patterns(self) -> list[str]:
        with self._engine.connect() as conn:
            query = select(ignore_patterns.c.pattern).order_by(ignore_patterns.c.pattern)
            return [str(row.pattern) for row in conn.execute(query)]

    def add_ignore_pattern(self, pattern: str) -> bool:
        with self._engine.begin() as conn:
            added = conn.execute(
                upsert(conn, ignore_patterns)
                .values(pattern=pattern, added_at=time.time())
                .on_conflict_do_nothing(index_elements=[ignore_patterns.c.pattern])
            )
            return bool(added.rowcount)

    def remove_ignore_pattern(self, pattern: str) -> bool:
        with self._engine.begin() as conn:
            removed = conn.execute(
                delete(ignore_patterns).where(ignore_patterns.c.pattern == pattern)
            )
            return bool(removed.rowcount)
