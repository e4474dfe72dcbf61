"""The indexing pipeline's steady rate, reported in the run summary."""

from __future__ import annotations

import time


class SteadyRate:
    """Photos embedded per second between the first batch written and the last: the pipeline's
    rate once the model runs, without start-up (model load, first decodes)."""

    def __init__(self) -> None:
        self._first: tuple[float, int] | None = None
        self._last: tuple[float, int] | None = None

    def note(self, embedded: int) -> None:
        now = (time.perf_counter(), embedded)
        if self._first is None:
            self._first = now
        self._last = now

    def rate(self) -> float | None:
        if self._first is None or self._last is None or self._last[0] <= self._first[0]:
            return None
        images = self._last[1] - self._first[1]
        return images / (self._last[0] - self._first[0]) if images > 0 else None
