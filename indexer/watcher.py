"""Live file-system events (watchdog: inotify on Linux, FSEvents on macOS, ReadDirectoryChanges on
Windows), filtered to what the library cares about and handed to `PendingChanges`.

Only paths matter, not what the event says happened: whatever a path is when it is due (a
settled file, a folder, nothing) decides what is done with it. A folder's "modified" event (a
child came or went) is dropped: the child has its own event.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable

from watchdog.events import (
    DirCreatedEvent,
    DirDeletedEvent,
    DirMovedEvent,
    FileAttribEvent,
    FileClosedEvent,
    FileCreatedEvent,
    FileDeletedEvent,
    FileModifiedEvent,
    FileMovedEvent,
    FileSystemEvent,
    FileSystemEventHandler,
)
from watchdog.observers import Observer
from watchdog.observers.api import ObservedWatch

from indexer.ignore import IgnoreRules
from indexer.pending import PendingChanges

log = logging.getLogger(__name__)

EVENTS: list[type[FileSystemEvent]] = [
    FileCreatedEvent,
    FileModifiedEvent,
    FileClosedEvent,
    FileAttribEvent,
    FileMovedEvent,
    FileDeletedEvent,
    DirCreatedEvent,
    DirMovedEvent,
    DirDeletedEvent,
]


class _Handler(FileSystemEventHandler):
    def __init__(self, on_event: Callable[[FileSystemEvent], None]) -> None:
        self._on_event = on_event

    def dispatch(self, event: FileSystemEvent) -> None:
        try:
            self._on_event(event)
        except Exception:  # a bad event must not kill the observer thread
            log.exception("could not handle the file-system event %s", event)


class FolderWatcher:
    """Watches roots recursively; `notify` is called after each event that was kept."""

    def __init__(
        self,
        pending: PendingChanges,
        rules: IgnoreRules,
        extensions: frozenset[str],
        notify: Callable[[], None],
    ) -> None:
        self.pending = pending
        self.rules = rules
        self._extensions = extensions
        self._notify = notify
        self._observer = Observer()
        self._observer.daemon = True
        self._handler = _Handler(self._on_event)
        self._watches: dict[str, ObservedWatch] = {}
        self._roots: tuple[str, ...] = ()  # replaced whole: the observer thread reads it

    @property
    def roots(self) -> tuple[str, ...]:
        return self._roots

    def start(self) -> None:
        self._observer.start()

    def stop(self) -> None:
        self._observer.stop()
        self._observer.join(timeout=10)

    def watch(self, root: str) -> str | None:
        """Start watching `root`; the reason when that is impossible (then only the periodic
        full scan sees its changes)."""
        if root in self._watches:
            return None
        try:
            self._watches[root] = self._observer.schedule(
                self._handler, root, recursive=True, event_filter=EVENTS
            )
        except OSError as exc:
            return f"cannot watch {root} for changes: {exc.strerror or exc}"
        self._roots = tuple(self._watches)
        return None

    def unwatch(self, roots: Iterable[str]) -> None:
        for root in roots:
            watch = self._watches.pop(root, None)
            if watch is not None:
                self._observer.unschedule(watch)
        self._roots = tuple(self._watches)

    def _root_of(self, path: str) -> str | None:
        for root in self._roots:
            if path == root or path.startswith(root.rstrip(os.sep) + os.sep):
                return root
        return None

    def _on_event(self, event: FileSystemEvent) -> None:
        paths = [event.src_path]
        if isinstance(event, (FileMovedEvent, DirMovedEvent)):
            paths.append(event.dest_path)
        kept = False
        for raw in paths:
            path = os.fsdecode(raw)
            root = self._root_of(path)
            if root is None or self.rules.ignores_below(path, root):
                continue
            if not event.is_directory and os.path.splitext(path)[1].lower() not in self._extensions:
                continue
            self.pending.touch(path)
            kept = True
        if kept:
            self._notify()
