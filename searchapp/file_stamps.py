"""Checksums verified once and remembered against the file's identity, so that a process need not
read a large file again to know it is the one that was checked.

A stamp records a file's device, inode, size, modification and change times (nanoseconds) with
the checksum it was found to have. While all five are unchanged the file has not been written,
replaced, restored or moved in (any of these changes the change time, which no ordinary tool can
set back), so the recorded checksum still holds and the read is skipped. A file changed within
`RACY_SECONDS` of its check is not stamped, as git does for its index: a second write in the same
clock tick would leave the times as they were.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Callable
from pathlib import Path

RACY_SECONDS = 2.0


def _identity(stat: os.stat_result) -> list[int]:
    return [stat.st_dev, stat.st_ino, stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns]


class FileStamps:
    """Stamps by file path, kept in `record` (a JSON file)."""

    def __init__(self, record: Path, racy_seconds: float = RACY_SECONDS) -> None:
        self.record = record
        self.racy_seconds = racy_seconds
        try:
            loaded = json.loads(record.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            loaded = {}
        self._stamps: dict[str, dict[str, object]] = loaded if isinstance(loaded, dict) else {}
        self._changed = False

    def checksum(self, path: Path, compute: Callable[[Path], str]) -> str:
        """`compute(path)`, or the checksum stamped for `path` while it is unchanged."""
        stat = path.stat()
        stamp = self._stamps.get(str(path))
        if isinstance(stamp, dict) and stamp.get("identity") == _identity(stat):
            return str(stamp["checksum"])
        value = compute(path)
        newest = max(stat.st_mtime_ns, stat.st_ctime_ns) / 1e9
        if time.time() - newest > self.racy_seconds:
            self._stamps[str(path)] = {"identity": _identity(stat), "checksum": value}
            self._changed = True
        elif self._stamps.pop(str(path), None) is not None:
            self._changed = True
        return value

    def save(self) -> None:
        """Write the stamps when they changed; a directory that cannot be written keeps none."""
        if not self._changed:
            return
        temporary = self.record.with_name(f".{self.record.name}.{os.getpid()}.tmp")
        try:
            temporary.write_text(json.dumps(self._stamps), encoding="utf-8")
            os.replace(temporary, self.record)
            self._changed = False
        except OSError:
            with contextlib.suppress(OSError):
                temporary.unlink()
