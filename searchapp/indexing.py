"""What an index run reports, and the registry of index runners the application layer uses.

The core never imports `indexer/`: a runner is found by name, from the built-in table or from
the `searchapp.index_runners` entry points (how other runners, such as a distributed one, plug
in), and loaded only when an index run starts.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Protocol

from searchapp.errors import SearchAppError
from searchapp.file_names import path_bytes_b64, shown_path

if TYPE_CHECKING:
    from searchapp.config import Settings
    from searchapp.library import Library
    from searchapp.store import StoredModel

ProgressCallback = Callable[[int, int], None]
ENTRY_POINT_GROUP = "searchapp.index_runners"
BUILT_IN_RUNNERS = {
    "local": "indexer.pipeline:local_index_runner",
    "ray": "indexer.ray_runner:ray_index_runner",
}


@dataclass
class IndexSummary:
    scanned: int = 0
    unchanged: int = 0
    embedded: int = 0
    linked: int = 0
    removed: int = 0
    duplicates: int = 0
    """Files of this run whose bytes another file in the library holds too (beyond the first)."""
    failed: list[tuple[str, str]] = field(default_factory=list)
    skipped_folders: list[str] = field(default_factory=list)
    skipped_formats: dict[str, dict[str, object]] = field(default_factory=dict)
    """Photos in formats this install cannot read, by extension: count and what to install."""
    seconds: float = 0.0
    steady_images_per_s: float | None = None
    """Photos embedded per second from the first batch written to the last (None: one batch)."""

    @property
    def indexed(self) -> int:
        return self.embedded + self.linked

    def as_dict(self) -> dict[str, object]:
        return {
            "scanned": self.scanned,
            "indexed": self.indexed,
            "embedded": self.embedded,
            "linked": self.linked,
            "unchanged": self.unchanged,
            "removed": self.removed,
            "duplicates": self.duplicates,
            "failed": [
                {"path": shown_path(path), "path_bytes": path_bytes_b64(path), "reason": reason}
                for path, reason in self.failed
            ],
            "skipped_folders": self.skipped_folders,
            "skipped_formats": self.skipped_formats,
            "seconds": round(self.seconds, 3),
            "steady_images_per_s": None
            if self.steady_images_per_s is None
            else round(self.steady_images_per_s, 2),
        }


class IndexRunner(Protocol):
    def run(
        self, roots: Iterable[str], progress: ProgressCallback | None = None
    ) -> IndexSummary: ...


class IndexRunnerFactory(Protocol):
    def __call__(
        self,
        library: Library,
        model: StoredModel,
        ignore_patterns: Sequence[str],
        verify: bool,
        reembed: bool,
    ) -> IndexRunner:
        """`verify`: read and hash every file again; `reembed`: embed every file again."""


_registered: dict[str, IndexRunnerFactory] = {}


def register_index_runner(name: str, factory: IndexRunnerFactory) -> None:
    _registered[name] = factory


def _load(reference: str) -> IndexRunnerFactory:
    module_name, _, attribute = reference.partition(":")
    factory: IndexRunnerFactory = getattr(importlib.import_module(module_name), attribute)
    return factory


def index_runner(name: str = "local") -> IndexRunnerFactory:
    """The factory of the runner called `name`."""
    if name in _registered:
        return _registered[name]
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        if entry.name == name:
            factory: IndexRunnerFactory = entry.load()
            return factory
    if name in BUILT_IN_RUNNERS:
        return _load(BUILT_IN_RUNNERS[name])
    known = sorted(
        {*_registered, *BUILT_IN_RUNNERS, *(e.name for e in entry_points(group=ENTRY_POINT_GROUP))}
    )
    raise SearchAppError(f"Unknown index runner {name!r}; known: {', '.join(known)}.")


def preflight(name: str, settings: Settings) -> None:
    """Refuse now what the runner called `name` would refuse when it starts (a cluster that
    does not answer, say): a factory may offer a `preflight(settings)` check for that."""
    check = getattr(index_runner(name), "preflight", None)
    if callable(check):
        check(settings)
