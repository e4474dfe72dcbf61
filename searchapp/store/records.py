"""Plain records that cross the store's boundary; no SQL types leak out."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

    from searchapp.models.base import ModelIdentity


@dataclass(frozen=True)
class ImageMeta:
    width: int
    height: int
    captured_at: str | None = None
    camera: str | None = None
    orientation: int | None = None
    phash: str | None = None  # perceptual hash of the decoded picture (`searchapp.perceptual`)


@dataclass(frozen=True)
class KnownFile:
    """What the store remembers of a path, to decide whether it must be read again."""

    size: int
    mtime_ns: int
    status: str
    content_hash: str | None
    embedded: bool
    ctime_ns: int | None = None
    inode: int | None = None

    def matches(self, stat: FileStat) -> bool:
        """Whether `stat` is the file as indexed: size, mtime, ctime and inode all equal (a
        restored mtime still moves the ctime; a replaced file has another inode)."""
        return (self.size, self.mtime_ns, self.ctime_ns, self.inode) == (
            stat.size,
            stat.mtime_ns,
            stat.ctime_ns,
            stat.inode,
        )


@dataclass(frozen=True)
class FileStat:
    path: str
    size: int
    mtime_ns: int
    ctime_ns: int = 0
    inode: int = 0

    @classmethod
    def of(cls, path: str, st: os.stat_result) -> FileStat:
        return cls(path, st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino)


@dataclass(frozen=True)
class EmbeddedFile:
    stat: FileStat
    content_hash: str
    meta: ImageMeta
    vector: NDArray[np.float32]


@dataclass(frozen=True)
class LinkedFile:
    """A file whose content is already embedded (moved, renamed, duplicated or touched)."""

    stat: FileStat
    content_hash: str


@dataclass(frozen=True)
class FailedFile:
    stat: FileStat
    reason: str


@dataclass(frozen=True)
class StoredModel:
    id: int
    identity: ModelIdentity
    pretrained: str | None
    config_json: str | None
    dim: int


@dataclass(frozen=True)
class FileHit:
    embedding_id: int
    path: str
    width: int
    height: int
    captured_at: str | None
    camera: str | None
