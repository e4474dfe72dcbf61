"""SQLite, the source of truth: files, images, models and their embeddings."""

from searchapp.store.records import (
    EmbeddedFile,
    FailedFile,
    FileHit,
    ImageMeta,
    KnownFile,
    LinkedFile,
    StoredModel,
)
from searchapp.store.repository import Store

__all__ = [
    "EmbeddedFile",
    "FailedFile",
    "FileHit",
    "ImageMeta",
    "KnownFile",
    "LinkedFile",
    "Store",
    "StoredModel",
]
