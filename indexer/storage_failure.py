"""A failed store write during indexing, turned into one line: what is full or damaged, and
how many photos were saved before it."""

from __future__ import annotations

from searchapp.errors import DamagedLibraryError, DatabaseUnavailableError, StorageFullError
from searchapp.store import Store
from searchapp.store.failures import damage_of, damaged_message, is_disk_full, storage_error


def storage_failure(store: Store, exc: BaseException, written: int, total: int) -> Exception:
    """One line for a failed write after `written` of `total` photos were saved."""
    path = store.path
    kept = f"after {written} of {total} photos; those {written} are saved"
    if written == 0:
        kept = f"before the first of {total} photos was saved; the library is as it was"
    if isinstance(exc, DatabaseUnavailableError):
        return DatabaseUnavailableError(f"Indexing stopped {kept}. {exc}")
    if path is None:  # PostgreSQL: not a disk of ours; its own message says what failed
        return exc if isinstance(exc, Exception) else RuntimeError(str(exc))
    if is_disk_full(exc, path.parent):
        return StorageFullError(
            f"Disk full {kept}. Free space on the disk holding {path.parent} and run "
            "`searchapp index` again to index the rest."
        )
    problem = damage_of(store)
    if problem is not None:
        return DamagedLibraryError(damaged_message(path, problem))
    failure = storage_error(exc, path)
    if failure is None:
        return exc if isinstance(exc, Exception) else RuntimeError(str(exc))
    return type(failure)(f"Indexing stopped {kept}. {failure}")
