"""The background indexer's status as it runs: kept in memory, written to the store on every
change of state and by a heartbeat thread, so that a reader can tell a working indexer from one
that died (`IndexerStatus.updated_at` stops moving)."""

from __future__ import annotations

import dataclasses
import logging
import os
import socket
import threading
import time
from collections import deque
from collections.abc import Callable

from searchapp.indexing import IndexSummary
from searchapp.store.indexer_status import (
    HEARTBEAT_SECONDS,
    IndexerError,
    IndexerStatus,
    IndexerStatusTable,
)

log = logging.getLogger(__name__)
RATE_WINDOW_SECONDS = 60.0


class StatusReporter:
    def __init__(self, table: IndexerStatusTable, queue_length: Callable[[], int]) -> None:
        self._table = table
        self._queue_length = queue_length
        now = time.time()
        self._status = IndexerStatus("starting", os.getpid(), socket.gethostname(), now, now)
        self._errors: list[IndexerError] = []
        self._rounds: deque[tuple[float, int, float]] = deque()  # (ended, indexed, seconds)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name="status", daemon=True)

    @property
    def state(self) -> str:
        return self._status.state

    def start(self) -> None:
        self.write()
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.set_state("stopped")

    def _update(self, **changes: object) -> None:
        with self._lock:
            self._status = dataclasses.replace(self._status, **changes)  # type: ignore[arg-type]

    def set_state(self, state: str, message: str | None = None) -> None:
        if state != self._status.state or message is not None:
            self._update(state=state, **({"message": message} if message is not None else {}))
            self.write()

    def error(self, path: str | None, reason: str) -> None:
        with self._lock:
            self._errors.append(IndexerError(time.time(), path, reason))

    def record_round(self, summary: IndexSummary) -> None:
        for path, reason in summary.failed:
            self.error(path, reason)
        with self._lock:
            self._rounds.append((time.time(), summary.indexed, summary.seconds))
            status = self._status
            self._status = dataclasses.replace(
                status,
                indexed=status.indexed + summary.indexed,
                removed=status.removed + summary.removed,
                failed=status.failed + len(summary.failed),
            )

    def record_removed(self, count: int) -> None:
        self._update(removed=self._status.removed + count)

    def record_full_scan(self, seconds: float) -> None:
        self._update(last_full_scan_at=time.time(), last_full_scan_seconds=round(seconds, 3))

    def _rate(self, now: float) -> float:
        """Files indexed per second of work, over the rounds of the last minute."""
        while self._rounds and now - self._rounds[0][0] > RATE_WINDOW_SECONDS:
            self._rounds.popleft()
        busy = sum(seconds for _, _, seconds in self._rounds)
        return round(sum(n for _, n, _ in self._rounds) / busy, 2) if busy > 0 else 0.0

    def write(self) -> None:
        """Store the status now (with the queue length, rate and heartbeat of this moment)."""
        with self._lock:
            now = time.time()
            self._status = dataclasses.replace(
                self._status,
                updated_at=now,
                queue_length=self._queue_length(),
                rate=self._rate(now),
            )
            status, errors, self._errors = self._status, self._errors, []
        try:
            self._table.write(status, errors)
        except Exception as exc:  # status is advisory: never stop indexing for it
            log.warning("could not store the indexer status: %s", exc)

    def _beat(self) -> None:
        while not self._stop.wait(HEARTBEAT_SECONDS):
            self.write()
