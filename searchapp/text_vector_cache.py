"""The text vectors of recent queries, so that a repeated query (the next page, a changed filter
or sort, the UI's rerun) skips the text tower.

The vectors belong to one text encoder: a different one (another model, or the model's export
appearing) empties the cache. Keyed by the whole batch of texts a query encodes together, so a
hit returns exactly what encoding that batch again would."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence

import numpy as np
from numpy.typing import NDArray

TEXT_VECTORS_KEPT = 256


class TextVectorCache:
    def __init__(self, size: int = TEXT_VECTORS_KEPT) -> None:
        self.size = size
        self._owner: object | None = None
        self._vectors: OrderedDict[tuple[str, ...], NDArray[np.float32]] = OrderedDict()
        self._lock = threading.Lock()

    def vectors(
        self,
        encoder: object,
        texts: Sequence[str],
        encode: Callable[[Sequence[str]], NDArray[np.float32]],
    ) -> NDArray[np.float32]:
        """`encode(texts)` (rows read-only), or the rows it gave last time with `encoder`."""
        key = tuple(texts)
        with self._lock:
            if self._owner is not encoder:
                self._owner = encoder
                self._vectors.clear()
            found = self._vectors.get(key)
            if found is not None:
                self._vectors.move_to_end(key)
                return found
        vectors = np.array(encode(list(texts)), dtype=np.float32)
        vectors.flags.writeable = False
        with self._lock:
            if self._owner is encoder:
                self._vectors[key] = vectors
                while len(self._vectors) > self.size:
                    self._vectors.popitem(last=False)
        return vectors
