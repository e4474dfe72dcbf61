"""The background indexer: a full scan of the library roots, then live file-system events, with a
periodic full scan for what the OS never reported (network drives, sleep, a full event queue).

Changes are coalesced per path (`PendingChanges`) and fed to the ordinary pipeline in rounds of
a few batches, so the model stays loaded between them, a burst of thousands of files becomes
batches, and a new photo is never stuck behind a long backlog. Each batch is one transaction:
SIGKILL at any moment loses at most the batch in flight, and the next start's full scan picks
up where it stopped. SIGTERM/SIGINT finish the batch in flight, then stop.
"""

from __future__ import annotations

import logging
import math
import os
import signal
import threading
import time
from dataclasses import dataclass
from types import FrameType
from typing import TYPE_CHECKING

from indexer.ignore import IgnoreRules
from indexer.pending import PendingChanges
from indexer.pipeline import Indexer
from indexer.scan import supported_extensions
from indexer.status import StatusReporter
from indexer.watcher import FolderWatcher
from searchapp.errors import SearchAppError
from searchapp.roots import forget_root, is_under, outermost
from searchapp.store import FailedFile
from searchapp.store.records import FileStat

if TYPE_CHECKING:
    from searchapp.service import LibraryService
    from searchapp.store import StoredModel

log = logging.getLogger(__name__)
RETRY_SECONDS = 5.0


@dataclass(frozen=True)
class WatchOptions:
    settle_seconds: float = 1.0  # a file must keep its size and mtime this long before it is read
    rescan_seconds: float = 3600.0  # full scan period; 0 turns it off
    removal_hold_seconds: float = 10.0  # longest wait of a gone path for files in flight
    persist_seconds: float = 30.0  # during a long backlog, save the vector index this often
    roots_check_seconds: float = 2.0  # how soon `searchapp roots add|remove` takes effect


class WatchDaemon:
    def __init__(self, service: LibraryService, model: StoredModel, options: WatchOptions) -> None:
        self.service = service
        self.library = service.library
        service.library.enable_background_index_builds()
        self.store = service.store
        self.model = model
        self.options = options
        self._stop = threading.Event()
        self._wake = threading.Event()
        self.pending = PendingChanges(options.settle_seconds, options.removal_hold_seconds)
        self.status = StatusReporter(self.store.indexer_status, lambda: len(self.pending))
        self._patterns = self.store.roots.ignore_patterns()
        rules = IgnoreRules(self._patterns)
        self.indexer = Indexer.for_library(self.library, model, rules, self._stop.is_set)
        self.watcher = FolderWatcher(self.pending, rules, supported_extensions(), self._wake.set)
        self._roots: list[str] = []
        self._unwatched: set[str] = set()  # roots that could not be watched (yet)
        self._reported: dict[tuple[str, str], str] = {}  # (root, kind) -> problem reported
        self._unsaved = False
        self._untagged = False
        self._uncaptioned = service.settings.vlm_auto_caption
        self._last_persist = time.monotonic()
        self._next_rescan = math.inf
        self._next_roots_check = 0.0
        self._roots_known = False  # the first sync is followed by a full scan anyway
        self._model_checked = False
        self._load_started = time.monotonic()

    def request_stop(self) -> None:
        if not self._stop.is_set():
            log.info("stopping: finishing the batch in flight")
        self._stop.set()
        self._wake.set()

    def run(self) -> None:
        self.status.start()
        self.watcher.start()
        log.info(
            "loading the model %s (the first scan starts meanwhile)",
            self.indexer.model.identity.describe(),
        )
        self._load_started = time.monotonic()
        self.indexer.preload()
        try:
            self._sync_roots()
            self._full_scan()
            while not self._stop.is_set():
                self._step()
        except BaseException as exc:
            self.status.error(None, f"stopped by an error: {type(exc).__name__}: {exc}")
            raise
        finally:
            self.status.set_state("stopping")
            self.watcher.stop()
            if self._unsaved:
                self._persist_index()
            self.status.stop()
            log.info("stopped")

    # -- the loop ---------------------------------------------------------------------------

    def _step(self) -> None:
        self._wake.clear()
        now = time.monotonic()
        if now >= self._next_roots_check:
            self._sync_roots()
        if now >= self._next_rescan:
            self._full_scan()
        ready = self.pending.take(max(64, 4 * self.indexer.batch_size))
        try:
            if ready.folders:
                self._reconcile(ready.folders, urgent=True)
            if ready.files and not self._stop.is_set():
                self._index(ready.files)
            if ready.gone and not self._stop.is_set():
                self._forget(ready.gone)
        except SearchAppError:
            raise  # the user must act (weights missing, say): a restart loop would not help
        except Exception as exc:  # disk full, a lock held too long: keep the work, try again
            log.exception("indexing failed; trying again in %.0f s", RETRY_SECONDS)
            self.status.error(None, f"indexing failed: {type(exc).__name__}: {exc}")
            self.pending.gone(ready.gone, after_backlog=False)
            for path in [*ready.folders, *ready.files]:
                self.pending.touch(path)
            self._stop.wait(RETRY_SECONDS)
            return
        if ready:
            return
        waiting = len(self.pending)
        if self._unsaved and (not waiting or self._persist_due()):
            self._persist_index()
        if self._untagged and not waiting:
            self._tag_new_images()
        elif self._uncaptioned and not waiting and self._ready():
            self._caption_new_images()
        self.status.set_state("indexing" if waiting else "idle" if self._ready() else "starting")
        due = self.pending.next_due()
        timeout = 1.0 if due is None else min(max(due - time.monotonic(), 0.01), 1.0)
        self._wake.wait(timeout)

    def _ready(self) -> bool:
        """Whether the model has loaded; a model that cannot load stops the indexer now, not
        at the first new photo."""
        if not self._model_checked and self.indexer.model_ready:
            _ = self.indexer.embedder  # raises the load's error
            self._model_checked = True
            log.info("model loaded in %.1f s", time.monotonic() - self._load_started)
        return self._model_checked

    def _persist_due(self) -> bool:
        return time.monotonic() - self._last_persist >= self.options.persist_seconds

    def _index(self, files: list[str]) -> None:
        self.status.set_state("indexing")
        summary = self.indexer.run(files)
        self.status.record_round(summary)
        self._unsaved = True
        self._untagged = self.library.settings.auto_tag and (self._untagged or summary.embedded > 0)
        self._uncaptioned = self.library.settings.vlm_auto_caption and (
            self._uncaptioned or summary.embedded > 0
        )
        log.info(
            "%d files: %d embedded, %d linked, %d failed in %.2f s; %d waiting",
            len(files),
            summary.embedded,
            summary.linked,
            len(summary.failed),
            summary.seconds,
            len(self.pending),
        )
        if self._persist_due():
            self._persist_index()

    def _gone(self, path: str, root: str | None) -> bool:
        """Not there any more, or now ignored."""
        if not os.path.lexists(path):
            return True
        rules = self.watcher.rules
        return root is not None and rules.ignores_below(path, root)

    def _forget(self, gone: list[str]) -> None:
        """Forget files that are gone or ignored; what lies under a root that vanished (an
        unmounted drive) is kept until the root is back."""
        doomed: set[str] = set()
        for path in gone:
            root = next((r for r in self._roots if is_under(path, r)), None)
            if root is not None and not os.path.isdir(root):
                continue
            if not self._gone(path, root):
                continue  # it came back: its own entry decides
            known = self.store.known_files([path], self.model.id)
            doomed.update(p for p in known if self._gone(p, root))
        if doomed:
            removed = self.store.remove_files(sorted(doomed))
            self.status.record_removed(removed)
            self._unsaved = True
            log.info("forgot %d files that are gone", removed)

    def _anything_left(self, root: str, vanished: list[str]) -> bool:
        """Whether some indexed file under `root` is still there."""
        return len(self.store.known_files([root], self.model.id)) > len(vanished)

    def _reconcile(self, folders: list[str], urgent: bool) -> None:
        """Scan folders (stat only): what changed waits in the queue, what is gone is forgotten
        once the files in flight are indexed."""
        self._queue_changes(*self.indexer.changes(folders), urgent=urgent)

    def _queue_changes(
        self, to_read: list[FileStat], unreadable: list[FailedFile], gone: list[str], urgent: bool
    ) -> None:
        if unreadable:
            self.store.write_batch(self.model.id, failed=unreadable)
            for failure in unreadable:
                log.warning("failed: %s: %s", failure.stat.path, failure.reason)
                self.status.error(failure.stat.path, failure.reason)
        for entry in to_read:
            self.pending.offer(entry.path, (entry.size, entry.mtime_ns), urgent)
        self.pending.gone(gone, after_backlog=not urgent)

    def _full_scan(self) -> None:
        """Every root, scanned; a root that is missing, or empty where photos were indexed (the
        mount point of an unmounted drive), keeps its photos until it is back."""
        self.status.set_state("scanning")
        started = time.monotonic()
        changed = gone = 0
        for root in self._roots:
            if not os.path.isdir(root):
                continue
            to_read, unreadable, vanished = self.indexer.changes([root])
            if vanished and not to_read and not self._anything_left(root, vanished):
                self._problem(
                    root,
                    "empty",
                    f"root {root} is empty (an unmounted drive?); its {len(vanished)} indexed "
                    "photos are kept. If they are really gone: `searchapp roots remove` it.",
                )
                vanished = []
            else:
                self._reported.pop((root, "empty"), None)
            self._queue_changes(to_read, unreadable, vanished, urgent=False)
            changed, gone = changed + len(to_read), gone + len(vanished)
        seconds = time.monotonic() - started
        self.status.record_full_scan(seconds)
        log.info(
            "full scan of %d roots: %d files to read, %d gone (%.2f s)",
            len(self._roots),
            changed,
            gone,
            seconds,
        )
        rescan = self.options.rescan_seconds
        self._next_rescan = started + rescan if rescan > 0 else math.inf

    def _tag_new_images(self) -> None:
        """As after `searchapp index`: every stored vocabulary tags the images embedded since.
        Tagging is an extra: a failure is reported, never stops the indexing."""
        self._untagged = False
        _, skipped = self.service.tag_new_photos()
        if skipped is not None:
            self.status.error(None, f"automatic tagging skipped: {skipped}")

    def _caption_new_images(self) -> None:
        """With SEARCHAPP_VLM_AUTO_CAPTION, one batch of uncaptioned photos per idle step, so
        new files never wait behind a whole library's captions."""
        run, failure = self.service.vision.caption_new(self.library.settings.vlm_batch_size)
        if failure is not None:
            self._uncaptioned = False
            self.status.error(None, f"automatic captioning stopped: {failure}")
        elif run is not None and (run.remaining == 0 or run.captioned == 0):
            self._uncaptioned = False  # done, or only unreadable photos left

    def _persist_index(self) -> None:
        started = time.monotonic()
        self.library.vector_backend(self.model).save()
        self._unsaved = False
        self._last_persist = time.monotonic()
        log.debug("vector index saved in %.2f s", self._last_persist - started)

    # -- roots ------------------------------------------------------------------------------

    def _problem(self, root: str, kind: str, reason: str) -> None:
        """Log and record a problem with a root once, not at every check."""
        if self._reported.get((root, kind)) != reason:
            log.warning("%s", reason)
            self.status.error(root, reason)
        self._reported[(root, kind)] = reason

    def _sync_roots(self) -> None:
        """Follow `searchapp roots add|remove|ignore|unignore`, and roots that vanish or come
        back (a drive unmounted and mounted again)."""
        self._next_roots_check = time.monotonic() + self.options.roots_check_seconds
        stored = self.store.roots.paths()
        patterns = self.store.roots.ignore_patterns()
        if patterns != self._patterns:
            self._patterns = patterns
            self.indexer.ignore = self.watcher.rules = IgnoreRules(patterns)
            self._next_rescan = 0.0  # what is now ignored leaves, what no longer is comes in
            log.info("ignore patterns changed; scanning the library again")
        desired = outermost(stored)
        dropped = [root for root in self._roots if root not in desired]
        self.watcher.unwatch(dropped)
        for root in dropped:
            self._unwatched.discard(root)
            if root not in stored:
                forgotten = forget_root(self.store, root, stored)
                self._unsaved = self._unsaved or forgotten > 0
                log.info("root %s removed: forgot %d files", root, forgotten)
        for root in desired:
            if root in self.watcher.roots and not os.path.isdir(root):
                self.watcher.unwatch([root])
            if root in self.watcher.roots:
                continue
            if not os.path.isdir(root):
                self._unwatched.add(root)
                missing = f"root {root} is missing (unmounted?); its photos are kept"
                self._problem(root, "missing", missing)
                continue
            failed = self.watcher.watch(root)
            if failed is not None:
                self._unwatched.add(root)
                self._problem(root, "watch", f"{failed}; only the periodic full scan sees it")
                continue
            newly = root not in self._roots or root in self._unwatched
            self._unwatched.discard(root)
            self._reported.pop((root, "missing"), None)
            self._reported.pop((root, "watch"), None)
            log.info("watching %s", root)
            if newly and self._roots_known:
                self.pending.touch(root)  # scan it now: it is new, or changed unseen
        self._roots = desired
        self._roots_known = True


def serve(daemon: WatchDaemon) -> None:
    """Run until SIGTERM or SIGINT, which finish the batch in flight and stop cleanly."""

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        log.info("received %s", signal.Signals(signum).name)
        daemon.request_stop()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        daemon.run()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
