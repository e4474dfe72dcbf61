"""The vector backends the contract tests run on, each opened through the real registry on a
store written through the real Store: FAISS exact, FAISS IVF-SQ8 (a threshold low enough for the
test library) and Milvus on an embedded milvus-lite file (skipped, saying why, without it)."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from searchapp.config import Settings
from searchapp.store import Store, StoredModel
from searchapp.vector_backend import VectorBackend, open_vector_backend

MILVUS_MISSING = [
    name for name in ("pymilvus", "milvus_lite") if importlib.util.find_spec(name) is None
]
needs_milvus = pytest.mark.skipif(
    bool(MILVUS_MISSING),
    reason=f"{' and '.join(MILVUS_MISSING)} not installed: pip install '.[scale]'",
)


@dataclass(frozen=True)
class BackendKind:
    name: str
    settings: dict[str, object]
    exact: bool

    def settings_for(self, data_dir: Path) -> Settings:
        return Settings(data_dir=data_dir, **self.settings)  # type: ignore[arg-type]


FAISS_EXACT = BackendKind("faiss", {"vector_backend": "faiss"}, exact=True)
FAISS_IVF = BackendKind("faiss-ivf", {"vector_backend": "faiss", "ann_min_photos": 1_000}, False)
MILVUS = BackendKind("milvus", {"vector_backend": "milvus"}, exact=True)

ALL_KINDS = [
    pytest.param(FAISS_EXACT, id="faiss"),
    pytest.param(FAISS_IVF, id="faiss-ivf"),
    pytest.param(MILVUS, id="milvus", marks=needs_milvus),
]
EXACT_KINDS = [
    pytest.param(FAISS_EXACT, id="faiss"),
    pytest.param(MILVUS, id="milvus", marks=needs_milvus),
]


@contextmanager
def opened(
    kind: BackendKind, data_dir: Path, store: Store, model: StoredModel
) -> Iterator[VectorBackend]:
    backend = open_vector_backend(kind.settings_for(data_dir), store, model)
    try:
        yield backend
    finally:
        backend.close()
