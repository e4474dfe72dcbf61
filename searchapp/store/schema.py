"""SQLAlchemy tables. Changes to them are Alembic migrations in `migrations/versions/`."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
)

from searchapp.file_names import path_from_shown, shown_path

metadata = MetaData()


class FilePath(TypeDecorator[str]):
    """A file path: the program's `str` (undecodable bytes as surrogates) stored as its shown
    form (`file_names.shown_path`), valid UTF-8 TEXT on any database, lossless and unique."""

    impl = String
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: object) -> str | None:
        return None if value is None else shown_path(value)

    def process_result_value(self, value: str | None, dialect: object) -> str | None:
        return None if value is None else path_from_shown(value)


models = Table(
    "models",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("key", String, nullable=False, unique=True),
    Column("backend", String, nullable=False),
    Column("name", String, nullable=False),
    Column("weights", String, nullable=False),
    Column("config_hash", String, nullable=False),
    Column("pretrained", String),
    Column("config_json", Text),
    Column("dim", Integer, nullable=False),
)

images = Table(
    "images",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("content_hash", String, nullable=False, unique=True),
    Column("width", Integer, nullable=False),
    Column("height", Integer, nullable=False),
    Column("captured_at", String),
    Column("camera", String),
    Column("orientation", Integer),
    Column("phash", String),  # perceptual hash (hex) of the decoded picture; migration 0007
)

files = Table(
    "files",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("path", FilePath, nullable=False, unique=True),  # shown form: migration 0008
    Column("size", BigInteger, nullable=False),
    Column("mtime_ns", BigInteger, nullable=False),
    Column("ctime_ns", BigInteger),  # migration 0006; NULL: indexed before it, read again
    Column("inode", BigInteger),
    Column("content_hash", String),
    Column("image_id", Integer, ForeignKey("images.id", ondelete="SET NULL")),
    Column("status", String, nullable=False),
    Column("error", Text),
    Column("indexed_at", Float, nullable=False),
    Index("ix_files_image_id", "image_id"),
    Index("ix_files_status", "status"),
    Index("ix_files_path_status_image", "path", "status", "image_id"),  # migration 0009
)

embeddings = Table(
    "embeddings",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("image_id", Integer, ForeignKey("images.id", ondelete="CASCADE"), nullable=False),
    Column("model_id", Integer, ForeignKey("models.id", ondelete="CASCADE"), nullable=False),
    Column("vector", LargeBinary, nullable=False),
    UniqueConstraint("image_id", "model_id", name="uq_embeddings_image_model"),
    Index("ix_embeddings_model_id", "model_id"),
)

library_state = Table(
    "library_state",
    metadata,
    Column("key", String, primary_key=True),
    Column("value", String, nullable=False),
)

vocabularies = Table(
    "vocabularies",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String, nullable=False, unique=True),
    Column("labels_json", Text, nullable=False),
    Column("templates_json", Text, nullable=False),
    Column("threshold", Float),
    Column("top_k", Integer, nullable=False),
    Column("source", String),
    Column("updated_at", Float, nullable=False),
)

label_embeddings = Table(
    "label_embeddings",
    metadata,
    Column("id", Integer, primary_key=True),
    Column(
        "vocabulary_id", Integer, ForeignKey("vocabularies.id", ondelete="CASCADE"), nullable=False
    ),
    Column("model_id", Integer, ForeignKey("models.id", ondelete="CASCADE"), nullable=False),
    Column("fingerprint", String, nullable=False),
    Column("family", String, nullable=False),
    Column("logit_scale", Float, nullable=False),
    Column("logit_bias", Float),
    Column("vectors", LargeBinary, nullable=False),
    UniqueConstraint("vocabulary_id", "model_id", name="uq_label_embeddings_vocabulary_model"),
)

tags = Table(
    "tags",
    metadata,
    Column(
        "vocabulary_id",
        Integer,
        ForeignKey("vocabularies.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column(
        "embedding_id", Integer, ForeignKey("embeddings.id", ondelete="CASCADE"), primary_key=True
    ),
    Column("label", String, primary_key=True),
    Column("score", Float, nullable=False),
    Index("ix_tags_label", "label"),
    Index("ix_tags_embedding_id", "embedding_id"),
)

tag_coverage = Table(
    "tag_coverage",
    metadata,
    Column(
        "vocabulary_id",
        Integer,
        ForeignKey("vocabularies.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column(
        "embedding_id", Integer, ForeignKey("embeddings.id", ondelete="CASCADE"), primary_key=True
    ),
    Index("ix_tag_coverage_embedding_id", "embedding_id"),
)

# -- background indexer (migration 0003_watch) ------------------------------------------------
# Triggers on `embeddings` (after delete, after update of vector) bump library_state
# 'vectors_removed', so a reader holding a vector index knows when adding new rows is enough.

library_roots = Table(
    "library_roots",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("path", FilePath, nullable=False, unique=True),
    Column("added_at", Float, nullable=False),
)

ignore_patterns = Table(
    "ignore_patterns",
    metadata,
    Column("pattern", String, primary_key=True),
    Column("added_at", Float, nullable=False),
)

indexer_status = Table(
    "indexer_status",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("state", String, nullable=False),
    Column("pid", Integer, nullable=False),
    Column("host", String, nullable=False),
    Column("started_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    Column("queue_length", Integer, nullable=False),
    Column("rate", Float, nullable=False),
    Column("indexed", Integer, nullable=False),
    Column("removed", Integer, nullable=False),
    Column("failed", Integer, nullable=False),
    Column("last_full_scan_at", Float),
    Column("last_full_scan_seconds", Float),
    Column("message", Text),
)

indexer_errors = Table(
    "indexer_errors",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("at", Float, nullable=False),
    Column("path", FilePath),
    Column("reason", Text, nullable=False),
)

# -- captions (migration 0005_captions) -------------------------------------------------------
# `captions_fts` is an FTS5 table over `captions.text` (external content, rowid = image_id),
# kept in step by triggers; it is queried with raw SQL in caption_store.

captions = Table(
    "captions",
    metadata,
    Column("image_id", Integer, ForeignKey("images.id", ondelete="CASCADE"), primary_key=True),
    Column("model", String, nullable=False),
    Column("prompt", Text, nullable=False),
    Column("text", Text, nullable=False),
    Column("created_at", Float, nullable=False),
    Index("ix_captions_model", "model"),
)

# -- approximate index (migration 0007_ann) ---------------------------------------------------
# Triggers on `embeddings` (after delete, after update of vector) log the id here, so a reader
# holding an index drops exactly those ids (and reads them again if they still exist).

vector_removals = Table(
    "vector_removals",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("embedding_id", Integer, nullable=False),
)
