"""Changes waiting to be indexed: file-system events and scan findings, coalesced per path.

A path is looked at only when it is due: `settle` seconds after its last event. Then a file must
still have the size and mtime it had then (else it is still being written: wait again), a folder
is handed over to be scanned, and a path that no longer exists is gone. Paths from live events
come before the backlog of a full scan, so a new photo is not stuck behind a library's first
indexing. Gone paths wait until the files in flight are indexed (a move's new path is linked to
its content before the old path's content is forgotten, so it is never embedded again); for live
events at most `removal_hold` seconds, for a full scan's findings until its backlog is done.
"""

from __future__ import annotations

import os
import stat
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

Signature = tuple[int, int]


@dataclass
class _Entry:
    due: float
    signature: Signature | None


@dataclass
class Ready:
    files: list[str] = field(default_factory=list)
    folders: list[str] = field(default_factory=list)
    gone: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.files or self.folders or self.gone)


def _signature(path: str) -> Signature | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_size, st.st_mtime_ns)


class PendingChanges:
    """Thread-safe: the watcher thread adds, the indexing thread takes."""

    def __init__(
        self,
        settle: float,
        removal_hold: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settle = settle
        self.removal_hold = removal_hold
        self._clock = clock
        self._lock = threading.Lock()
        # Insertion order is due order: every (re)insertion is due `settle` after "now".
        self._live: dict[str, _Entry] = {}
        self._backlog: dict[str, _Entry] = {}
        self._gone: dict[str, tuple[float, bool]] = {}  # path -> (since, after the backlog)

    def __len__(self) -> int:
        with self._lock:
            return len(self._live) + len(self._backlog) + len(self._gone)

    def touch(self, path: str) -> None:
        """An event on `path`: (re)start its settle period from now."""
        entry = _Entry(self._clock() + self.settle, _signature(path))
        with self._lock:
            self._backlog.pop(path, None)
            self._live.pop(path, None)
            self._live[path] = entry

    def offer(self, path: str, signature: Signature | None, urgent: bool) -> None:
        """A scan found `path` to read (with this size and mtime); an entry already waiting keeps
        its place. `urgent` (a folder that just appeared) goes with the live events, otherwise
        (a full scan) to the backlog."""
        with self._lock:
            if path not in self._live and path not in self._backlog:
                queue = self._live if urgent else self._backlog
                queue[path] = _Entry(self._clock() + self.settle, signature)

    def gone(self, paths: Iterable[str], after_backlog: bool) -> None:
        now = self._clock()
        with self._lock:
            for path in paths:
                self._gone.setdefault(path, (now, after_backlog))

    def next_due(self) -> float | None:
        """When `take` may next have something (None: nothing is waiting)."""
        with self._lock:
            times = [next(iter(q.values())).due for q in (self._live, self._backlog) if q]
            if self._gone:
                times.append(min(since for since, _ in self._gone.values()) + self.removal_hold)
            return min(times) if times else None

    def take(self, limit: int) -> Ready:
        """Due work: at most `limit` settled files, the folders to scan, and the gone paths
        whose wait is over."""
        ready = Ready()
        now = self._clock()
        with self._lock:
            for queue in (self._live, self._backlog):
                self._take_due(queue, now, limit, ready)
            self._release_gone(now, ready)
        return ready

    def _take_due(self, queue: dict[str, _Entry], now: float, limit: int, ready: Ready) -> None:
        while queue and len(ready.files) < limit:
            path, entry = next(iter(queue.items()))
            if entry.due > now:
                return
            del queue[path]
            try:
                st = os.stat(path)
            except FileNotFoundError:
                self._gone.setdefault(path, (now, False))
                continue
            except OSError:  # exists but cannot be stat'ed: the pipeline records why
                ready.files.append(path)
                continue
            if stat.S_ISDIR(st.st_mode):
                ready.folders.append(path)
                continue
            signature = (st.st_size, st.st_mtime_ns)
            if signature != entry.signature:  # still being written: wait another period
                queue[path] = _Entry(now + self.settle, signature)
                continue
            ready.files.append(path)

    def _release_gone(self, now: float, ready: Ready) -> None:
        for path, (since, after_backlog) in list(self._gone.items()):
            if after_backlog:
                due = not self._live and not self._backlog
            else:
                due = not self._live or now - since >= self.removal_hold
            if due:
                del self._gone[path]
                ready.gone.append(path)
