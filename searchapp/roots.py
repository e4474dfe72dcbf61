"""Library roots: validated absolute folders, the outermost ones
watched, and what forgetting a root means for the photos indexed under it."""

from __future__ import annotations

import os
from collections.abc import Iterable

from searchapp.errors import InvalidRootError
from searchapp.file_names import shown_path
from searchapp.store import Store


def normalise_root(path: str) -> str:
    """The absolute path of a folder that can be a root; a clear error when it cannot."""
    absolute = os.path.abspath(os.path.expanduser(path))
    if not os.path.isdir(absolute):
        raise InvalidRootError(
            f"{shown_path(absolute)} is not a folder; a library root must be one."
        )
    return absolute


def is_under(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def outermost(roots: Iterable[str]) -> list[str]:
    """Roots that are not inside another root (those are watched and scanned with it)."""
    ordered = sorted(set(roots))
    return [r for r in ordered if not any(is_under(r, o) and r != o for o in ordered)]


def forget_root(store: Store, root: str, remaining: Iterable[str]) -> int:
    """Forget what is indexed under `root` and under no remaining root; returns how many files."""
    keep = list(remaining)
    model = store.active_model()
    known = store.known_files([root], model.id if model else 0)
    gone = [path for path in known if not any(is_under(path, r) for r in keep)]
    return store.remove_files(gone)
