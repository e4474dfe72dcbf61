"""Load a heavy resource once, under a lock, on first use; release it after an idle time.

Several threads (an API serving requests, a caption job) share one loaded model: the first caller
loads, the others wait for it; the idle timer never unloads while a call is using it."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Generic, TypeVar

log = logging.getLogger(__name__)
T = TypeVar("T")


class LazyResource(Generic[T]):
    def __init__(
        self,
        load: Callable[[], T],
        release: Callable[[T], None],
        idle_seconds: float,
        name: str = "resource",
    ) -> None:
        self._load = load
        self._release = release
        self._idle_seconds = idle_seconds
        self._name = name
        self._lock = threading.Lock()
        self._value: T | None = None
        self._users = 0
        self._timer: threading.Timer | None = None
        self.loads = 0

    @property
    def loaded(self) -> bool:
        return self._value is not None

    @contextmanager
    def use(self) -> Iterator[T]:
        with self._lock:
            self._cancel_timer()
            if self._value is None:
                log.info("loading %s", self._name)
                self._value = self._load()
                self.loads += 1
            self._users += 1
            value = self._value
        try:
            yield value
        finally:
            with self._lock:
                self._users -= 1
                if self._users == 0 and self._idle_seconds > 0:
                    self._timer = threading.Timer(self._idle_seconds, self._unload_if_idle)
                    self._timer.daemon = True
                    self._timer.start()

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _unload_if_idle(self) -> None:
        with self._lock:
            if self._users == 0 and self._value is not None:
                log.info("unloading %s after %.0f s idle", self._name, self._idle_seconds)
                self._drop()

    def unload(self) -> None:
        """Release now (waits for nothing: a call in progress keeps its reference)."""
        with self._lock:
            self._cancel_timer()
            if self._value is not None:
                self._drop()

    def _drop(self) -> None:
        value, self._value = self._value, None
        if value is not None:
            self._release(value)
