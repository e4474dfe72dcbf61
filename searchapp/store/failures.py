"""What a SQLite or file-system failure means for the user, in one line with what to do.

`storage_error` turns the exceptions that reach a front end (`sqlalchemy` errors wrapping
`sqlite3`, `OSError`) into the library's typed errors; anything else is not a storage failure.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path
from typing import TYPE_CHECKING

from searchapp.errors import (
    DamagedLibraryError,
    ReadOnlyLibraryError,
    SearchAppError,
    StorageFullError,
    StorageIOError,
)

if TYPE_CHECKING:
    from searchapp.store import Store

DAMAGED_MARKERS = ("malformed", "file is not a database", "database corrupt", "not a database")


def damaged_message(database_path: Path, detail: str) -> str:
    detail = (detail.strip().splitlines() or ["unreadable"])[0][:200]
    return (
        f"The library database {database_path} is damaged ({detail}). Run `searchapp doctor "
        "--repair`: it moves the damaged file aside and rebuilds the library by indexing your "
        "folders again, keeping the tag vocabularies (your photos are never touched)."
    )


def full_message(database_path: Path, kept: str = "") -> str:
    where = database_path.parent
    return f"The disk holding {where} is full{kept}. Free some space and run the command again."


def _detail(exc: BaseException) -> str:
    original = getattr(exc, "orig", None) or exc
    if isinstance(original, OSError) and original.strerror:
        return original.strerror
    return str(original).splitlines()[0] if str(original) else type(original).__name__


def no_space_left(directory: Path) -> bool:
    try:
        return os.statvfs(directory).f_bavail == 0
    except (OSError, AttributeError):
        return False


def is_disk_full(exc: BaseException, directory: Path | None = None) -> bool:
    """A write that failed for want of space (SQLite reports some of those, such as creating
    its shared-memory file, as an I/O error: then the free space decides)."""
    original = getattr(exc, "orig", None) or exc
    if isinstance(original, OSError) and original.errno == errno.ENOSPC:
        return True
    text = str(original).lower()
    if "database or disk is full" in text:
        return True
    return directory is not None and "disk i/o error" in text and no_space_left(directory)


def is_damage(exc: BaseException) -> bool:
    original = getattr(exc, "orig", None) or exc
    return any(marker in str(original).lower() for marker in DAMAGED_MARKERS)


def storage_error(exc: BaseException, database_path: Path) -> SearchAppError | None:
    """The one-line error for a storage failure, or None when `exc` is not one."""
    from sqlalchemy.exc import DBAPIError

    if not isinstance(exc, (DBAPIError, OSError)):
        return None
    detail = _detail(exc)
    if is_disk_full(exc, database_path.parent):
        return StorageFullError(full_message(database_path))
    if is_damage(exc):
        return DamagedLibraryError(damaged_message(database_path, detail), detail)
    original = getattr(exc, "orig", None) or exc
    text = str(original).lower()
    if "readonly database" in text or (
        isinstance(original, OSError) and original.errno == errno.EROFS
    ):
        return ReadOnlyLibraryError(
            f"The data directory {database_path.parent} is read-only; this command needs to "
            "write to it (remount it read-write, or use another --data-dir)."
        )
    if "disk i/o error" in text or (isinstance(original, OSError) and original.errno == errno.EIO):
        return StorageIOError(
            f"Reading or writing the library in {database_path.parent} failed ({detail}): check "
            "the disk (`dmesg`), then run `searchapp doctor`."
        )
    if "unable to open database file" in text:
        return StorageIOError(
            f"Cannot open the library database {database_path} ({detail}): check that the data "
            "directory exists and is readable."
        )
    return None


def damage_of(store: Store) -> str | None:
    """After a failed write: SQLite's `quick_check` verdict when the file is damaged, else None
    (also when the check itself cannot run, and on PostgreSQL, which checks itself)."""
    from sqlalchemy.exc import DBAPIError

    from searchapp.store.connection import quick_check

    if store.is_postgresql:
        return None
    try:
        return quick_check(store.engine)
    except DBAPIError as exc:
        return _detail(exc) if is_damage(exc) else None
