"""Walk photo folders: photo files by extension (or, without a known one, by their first bytes:
`indexer.formats`), their stat, nothing else read. Symlinked folders are
followed once each, so a symlink loop cannot hang the walk; a camera RAW with a JPEG or HEIC of
the same name beside it is left out (`searchapp.raw_photos`); ignored names (`indexer.ignore`:
hidden files and folders, thumbnail caches, trash) are not entered."""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from indexer.formats import (
    KNOWN_PHOTO_EXTENSIONS,
    NOT_PHOTOS,
    missing_for,
    photo_extension,
    readable_extensions,
)
from indexer.ignore import IgnoreRules
from searchapp.raw_photos import RAW_EXTENSIONS, developed_stems, has_developed_sibling
from searchapp.store.records import FileStat

log = logging.getLogger(__name__)


def supported_extensions() -> frozenset[str]:
    """The extensions this install indexes (the background indexer's filter for events)."""
    return readable_extensions()


@dataclass(frozen=True)
class Unreadable:
    """A path that looks like an image but cannot be stat'ed or is not a regular file."""

    path: str
    reason: str


@dataclass(frozen=True)
class SkippedFolder:
    """A folder that could not be listed (unmounted, permission denied): what the library knows
    under it is kept, not taken for deleted."""

    path: str
    reason: str


@dataclass(frozen=True)
class SkippedFormat:
    """A photo in a format this install cannot read (camera RAW without rawpy, …)."""

    path: str
    extension: str
    needs: str


Entry = FileStat | Unreadable | SkippedFormat


def _file_entry(path: str, developed: set[str] | None = None) -> Entry | None:
    """`developed`: the folder's JPEG/HEIC stems, when the caller listed the folder already."""
    extension = os.path.splitext(path)[1].lower()
    if extension in NOT_PHOTOS:
        return None
    if extension in RAW_EXTENSIONS and has_developed_sibling(path, developed):
        return None  # its JPEG or HEIC stands for it
    known = extension in KNOWN_PHOTO_EXTENSIONS
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return (
            Unreadable(path, "cannot read: broken symbolic link or file vanished")
            if known
            else None
        )
    except OSError as exc:
        return Unreadable(path, f"cannot read: {exc.strerror or exc}") if known else None
    if not stat.S_ISREG(st.st_mode):
        return Unreadable(path, "not a regular file") if known else None
    detected = photo_extension(path)  # an unknown extension: its first bytes are read
    if detected is None:
        return None
    missing = missing_for(detected)
    if missing is not None:
        return SkippedFormat(path, missing.extension, missing.needs)
    return FileStat.of(path, st)


def scan(
    roots: Iterable[str], ignore: IgnoreRules | None = None
) -> Iterator[Entry | SkippedFolder]:
    """Yield every image-looking file under the roots (files may be given as roots too, and are
    taken even if their name is ignored)."""
    rules = ignore if ignore is not None else IgnoreRules()
    visited_dirs: set[tuple[int, int]] = set()
    for root in roots:
        root = os.path.abspath(root)
        if not os.path.isdir(root):
            entry = _file_entry(root)
            if entry is not None:
                yield entry
            continue
        stack = [root]
        while stack:
            directory = stack.pop()
            try:
                st = os.stat(directory)
            except OSError as exc:
                log.warning("skipping folder %s: %s", directory, exc.strerror or exc)
                yield SkippedFolder(directory, str(exc.strerror or exc))
                continue
            if (st.st_dev, st.st_ino) in visited_dirs:
                continue
            visited_dirs.add((st.st_dev, st.st_ino))
            try:
                with os.scandir(directory) as entries:
                    children = sorted(entries, key=lambda e: e.name)
            except OSError as exc:
                log.warning("skipping folder %s: %s", directory, exc.strerror or exc)
                yield SkippedFolder(directory, str(exc.strerror or exc))
                continue
            subdirs = []
            developed = developed_stems([child.name for child in children])
            for child in children:
                try:
                    is_dir = child.is_dir(follow_symlinks=True)
                except OSError:
                    is_dir = False
                if rules.ignores(child.name, child.path):
                    continue
                if is_dir:
                    subdirs.append(child.path)
                    continue
                entry = _file_entry(child.path, developed)
                if entry is not None:
                    yield entry
            stack.extend(reversed(subdirs))
