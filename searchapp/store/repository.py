"""The Store: the one place that issues SQL. Writers use one transaction per batch."""

from __future__ import annotations

import json
import logging
import secrets
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Integer, and_, cast, delete, or_, select
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError

from searchapp.models.base import ModelIdentity
from searchapp.store.batch_rows import write_batch_rows
from searchapp.store.caption_store import CaptionStore
from searchapp.store.connection import is_read_only, open_checked
from searchapp.store.dialect import upsert
from searchapp.store.failures import is_damage, storage_error
from searchapp.store.file_details import FileDetails, file_details
from searchapp.store.indexer_status import IndexerStatusTable
from searchapp.store.photo_queries import PhotoQueries
from searchapp.store.postgres import describe, is_postgresql_url, open_postgres, with_backoff
from searchapp.store.records import (
    EmbeddedFile,
    FailedFile,
    KnownFile,
    LinkedFile,
    StoredModel,
)
from searchapp.store.roots import LibraryRoots
from searchapp.store.schema import embeddings, files, images, library_state, models
from searchapp.store.tag_store import TagStore
from searchapp.store.vector_reads import VectorReads

SQL_CHUNK = 500
DEFAULT_RETRY_SECONDS = 30.0
T = TypeVar("T")
log = logging.getLogger(__name__)
_ACTIVE_MODEL = select(models).join(
    library_state,
    and_(
        library_state.c.key == "active_model_id",
        models.c.id == cast(library_state.c.value, Integer),
    ),
)


def _under_root(root: str) -> Any:
    """Rows whose path is `root` or lies below it; an index range scan, no LIKE escaping."""
    if root == "/":
        return files.c.path.is_not(None)
    return or_(files.c.path == root, and_(files.c.path >= root + "/", files.c.path < root + "0"))


def _chunks(items: Sequence[Any], size: int = SQL_CHUNK) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class Store:
    """The metadata store through SQLAlchemy Core: SQLite (a file, in WAL mode so readers never
    block the writer) or PostgreSQL (a `postgresql+psycopg://` URL; see `store.postgres`)."""

    def __init__(
        self,
        database: Path | str,
        read_only: bool | None = None,
        retry_seconds: float = DEFAULT_RETRY_SECONDS,
    ) -> None:
        """`read_only=None`: read-only when this process cannot write the database or its folder
        (a read-only mount); then nothing is written, and a schema that is behind is an error.
        `retry_seconds`: how long a lost PostgreSQL connection is waited for."""
        self.url: str | None = str(database) if is_postgresql_url(database) else None
        self.path = Path(database) if self.url is None else None
        self.retry_seconds = retry_seconds
        if read_only is None:
            read_only = self.path is not None and is_read_only(self.path)
        self.read_only = read_only
        self.engine: Engine = self._open()
        self.tags = TagStore(self.engine)
        self.captions = CaptionStore(self.engine)
        self.roots = LibraryRoots(self.engine)
        self.indexer_status = IndexerStatusTable(self.engine)
        self.photos = PhotoQueries(self.engine)
        self.vectors = VectorReads(self.engine)

    @property
    def is_postgresql(self) -> bool:
        return self.url is not None

    @property
    def location(self) -> str:
        """Where the store is, for messages: the file, or the server (never a password)."""
        return str(self.path) if self.url is None else f"PostgreSQL at {describe(self.url)}"

    def _open(self) -> Engine:
        """Open, upgrade (or, read-only, check) the schema, and check the file for damage where
        that is cheap. A library that cannot be opened for writing because its disk is full or
        failing is opened read-only, so that searching still works."""
        if self.url is not None:
            return open_postgres(self.url, self.read_only, self.retry_seconds)
        assert self.path is not None
        try:
            return open_checked(self.path, self.read_only)
        except DBAPIError as exc:
            if self.read_only or is_damage(exc) or not self.path.exists():
                raise storage_error(exc, self.path) or exc from None
            log.warning("cannot open %s for writing (%s); opening it read-only", self.path, exc)
            self.read_only = True
            try:
                return open_checked(self.path, read_only=True)
            except DBAPIError as again:
                raise storage_error(again, self.path) or again from None

    def _retrying(self, action: Callable[[], T], what: str) -> T:
        """On PostgreSQL, `action` (a whole transaction, so idempotent) tried again while the
        connection is lost, for up to `retry_seconds`; on SQLite just `action()`."""
        if self.url is None:
            return action()
        return with_backoff(action, what, self.url, self.retry_seconds)

    def close(self) -> None:
        self.engine.dispose()

    # -- models -----------------------------------------------------------------------------

    def _stored_model(self, row: Any) -> StoredModel:
        identity = ModelIdentity(row.backend, row.name, row.weights, row.config_hash)
        return StoredModel(row.id, identity, row.pretrained, row.config_json, row.dim)

    def active_model(self) -> StoredModel | None:
        """One statement: every query asks."""
        with self.engine.connect() as conn:
            row = conn.execute(_ACTIVE_MODEL).first()
        return self._stored_model(row) if row else None

    def register_model(
        self, identity: ModelIdentity, pretrained: str | None, config_json: str | None, dim: int
    ) -> StoredModel:
        """Record the model (once per identity); `activate_model` makes it the library's."""
        with self.engine.begin() as conn:
            conn.execute(
                upsert(conn, models)
                .values(
                    key=identity.key,
                    backend=identity.backend,
                    name=identity.name,
                    weights=identity.weights,
                    config_hash=identity.config_hash,
                    pretrained=pretrained,
                    config_json=config_json,
                    dim=dim,
                )
                .on_conflict_do_update(
                    index_elements=[models.c.key],
                    set_={"pretrained": pretrained, "config_json": config_json},
                )
            )
            row = conn.execute(select(models).where(models.c.key == identity.key)).one()
            return self._stored_model(row)

    def activate_model(self, model_id: int) -> None:
        with self.engine.begin() as conn:
            if self._state(conn, "active_model_id") != str(model_id):
                self._set_state(conn, "active_model_id", str(model_id))
                self._bump_generation(conn)

    # -- library state ----------------------------------------------------------------------

    @staticmethod
    def _state(conn: Connection, key: str) -> str | None:
        value = conn.execute(
            select(library_state.c.value).where(library_state.c.key == key)
        ).scalar()
        return None if value is None else str(value)

    @staticmethod
    def _set_state(conn: Connection, key: str, value: str) -> None:
        conn.execute(
            upsert(conn, library_state)
            .values(key=key, value=value)
            .on_conflict_do_update(index_elements=[library_state.c.key], set_={"value": value})
        )

    @staticmethod
    def _lock_generation(conn: Connection) -> None:
        """Take the generation row's lock first in a transaction that adds or removes vectors
        (PostgreSQL: `FOR UPDATE`; SQLite's writer lock already serialises): concurrent writers
        then commit one after another, so embedding ids and removal seqs grow in commit order
        (a reader that appends the ids above its highest never misses a row) and no two writers
        bump the generation to the same number."""
        conn.execute(
            upsert(conn, library_state).values(key="generation", value="0").on_conflict_do_nothing()
        )
        conn.execute(
            select(library_state.c.value)
            .where(library_state.c.key == "generation")
            .with_for_update()
        )

    def _bump_generation(self, conn: Connection) -> None:
        """A new generation and a new random revision: a vector index built from another store,
        or from this one before a backup was restored, can share the number but not the token."""
        current = int(self._state(conn, "generation") or 0)
        self._set_state(conn, "generation", str(current + 1))
        self._set_state(conn, "revision", secrets.token_hex(8))

    def library_id(self) -> str:
        """The random id this store was created with; a vector index names the store it is of."""
        with self.engine.connect() as conn:
            return self._state(conn, "library_id") or ""

    def record_skipped_formats(self, skipped: dict[str, dict[str, object]]) -> None:
        """The photos the latest scan skipped for a missing extra, by extension."""

        def record() -> None:
            with self.engine.begin() as conn:
                self._set_state(conn, "skipped_formats", json.dumps(skipped, sort_keys=True))

        self._retrying(record, "recording skipped formats")

    def skipped_formats(self) -> dict[str, dict[str, object]]:
        with self.engine.connect() as conn:
            saved = self._state(conn, "skipped_formats")
        loaded: dict[str, dict[str, object]] = json.loads(saved) if saved else {}
        return loaded

    def generation(self) -> int:
        """A counter bumped by every committed change that affects search results."""
        with self.engine.connect() as conn:
            return int(self._state(conn, "generation") or 0)

    # -- scanning ---------------------------------------------------------------------------

    def known_files(self, roots: Iterable[str], model_id: int) -> dict[str, KnownFile]:
        join = files.outerjoin(
            embeddings,
            and_(embeddings.c.image_id == files.c.image_id, embeddings.c.model_id == model_id),
        )
        query = select(
            files.c.path,
            files.c.size,
            files.c.mtime_ns,
            files.c.status,
            files.c.content_hash,
            embeddings.c.id.is_not(None).label("embedded"),
            files.c.ctime_ns,
            files.c.inode,
        ).select_from(join)
        known: dict[str, KnownFile] = {}
        with self.engine.connect() as conn:
            for root in roots:
                for row in conn.execute(query.where(_under_root(root))):
                    known[row.path] = KnownFile(
                        row.size,
                        row.mtime_ns,
                        row.status,
                        row.content_hash,
                        bool(row.embedded),
                        row.ctime_ns,
                        row.inode,
                    )
        return known

    def is_embedded(self, content_hash: str, model_id: int) -> bool:
        """Whether this content already has a vector for the model (safe from any thread)."""
        query = (
            select(embeddings.c.id)
            .join(images, images.c.id == embeddings.c.image_id)
            .where(images.c.content_hash == content_hash, embeddings.c.model_id == model_id)
        )

        def read() -> bool:
            with self.engine.connect() as conn:
                return conn.execute(query).first() is not None

        return self._retrying(read, "reading the store")

    # -- writing ----------------------------------------------------------------------------

    def write_batch(
        self,
        model_id: int,
        embedded: Sequence[EmbeddedFile] = (),
        linked: Sequence[LinkedFile] = (),
        failed: Sequence[FailedFile] = (),
    ) -> None:
        """Everything a batch produced, in one transaction: all of it is stored or none (on
        PostgreSQL a lost connection rolls it back, and it is written again once back)."""
        self._retrying(
            lambda: self._write_batch(model_id, embedded, linked, failed), "writing a batch"
        )

    def _write_batch(
        self,
        model_id: int,
        embedded: Sequence[EmbeddedFile],
        linked: Sequence[LinkedFile],
        failed: Sequence[FailedFile],
    ) -> None:
        now = time.time()
        with self.engine.begin() as conn:
            self._lock_generation(conn)
            write_batch_rows(conn, model_id, embedded, linked, failed, now)
            self._bump_generation(conn)

    def remove_files(self, paths: Sequence[str]) -> int:
        """Forget files that are gone, then the images and vectors nothing points at any more."""
        return self._retrying(lambda: self._remove_files(paths), "forgetting removed files")

    def _remove_files(self, paths: Sequence[str]) -> int:
        with self.engine.begin() as conn:
            self._lock_generation(conn)
            for chunk in _chunks(list(paths)):
                conn.execute(delete(files).where(files.c.path.in_(chunk)))
            referenced = select(files.c.image_id).where(files.c.image_id.is_not(None))
            removed = conn.execute(delete(images).where(images.c.id.not_in(referenced))).rowcount
            if paths or removed:
                self._bump_generation(conn)
        return len(paths)

    def drop_other_models(self, model_id: int) -> int:
        """After a complete re-index, vectors of earlier models are dead weight."""

        def drop() -> int:
            with self.engine.begin() as conn:
                self._lock_generation(conn)
                dropped = conn.execute(delete(embeddings).where(embeddings.c.model_id != model_id))
                if dropped.rowcount:
                    self._bump_generation(conn)
                return int(dropped.rowcount)

        return self._retrying(drop, "dropping other models' vectors")

    # -- reading (vectors, hits, counts, failures: `self.vectors`, store.vector_reads) --------

    def file_details(self, path: str) -> FileDetails | None:
        return file_details(self.engine, path)
