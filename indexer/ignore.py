"""Which files and folders stay out of the library: glob patterns, matched case-insensitively.

A pattern without "/" matches one name (a file's, or any folder's on the way to it); a pattern
with "/" matches a whole absolute path ("*" then also crosses "/"). The defaults keep hidden
files and folders, version control, thumbnail caches and trash out; a library stores its own
list (`searchapp roots ignore|unignore`).
"""

from __future__ import annotations

import fnmatch
import os
import re
from collections.abc import Iterable

DEFAULT_IGNORE_PATTERNS = (
    ".*",
    ".git",
    ".Trash*",
    ".thumbnails",
    "@eaDir",
    "#recycle",
    "#snapshot",
    "__MACOSX",
    "$RECYCLE.BIN",
    "lost+found",
    "node_modules",
)


def _compile(patterns: Iterable[str]) -> re.Pattern[str] | None:
    translated = [fnmatch.translate(p.lower()) for p in patterns]
    return re.compile("|".join(translated)) if translated else None


class IgnoreRules:
    def __init__(self, patterns: Iterable[str] = DEFAULT_IGNORE_PATTERNS) -> None:
        self.patterns = tuple(dict.fromkeys(p.strip() for p in patterns if p.strip()))
        self._names = _compile(p for p in self.patterns if "/" not in p)
        self._paths = _compile(p for p in self.patterns if "/" in p)

    def ignores(self, name: str, path: str) -> bool:
        """Whether the entry `name` at `path` (its folder is already known not to be ignored)."""
        if self._names is not None and self._names.match(name.lower()):
            return True
        return self._paths is not None and self._paths.match(path.lower()) is not None

    def ignores_below(self, path: str, root: str) -> bool:
        """Whether `path`, or any folder between `root` and it, is ignored."""
        relative = os.path.relpath(path, root)
        if relative == "." or relative == ".." or relative.startswith(".." + os.sep):
            return False
        current = root
        for name in relative.split(os.sep):
            current = os.path.join(current, name)
            if self.ignores(name, current):
                return True
        return False
