"""The SQL of zero-shot tagging: vocabularies, cached label embeddings, tags and tag coverage.

Tags hang off `embeddings` rows (image × model), so they follow an image through moves and
renames, and vanish with its vectors. `tag_coverage` marks which embeddings a vocabulary has
already looked at, including those where no label passed the threshold.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray
from sqlalchemy import and_, delete, func, select, text
from sqlalchemy.engine import Engine

from searchapp.store.dialect import upsert
from searchapp.store.filter_cache import mark_tags_changed
from searchapp.store.schema import (
    embeddings,
    files,
    label_embeddings,
    tag_coverage,
    tags,
    vocabularies,
)
from searchapp.store.vector_pages import vector_pages


@dataclass(frozen=True)
class StoredVocabulary:
    id: int
    name: str
    labels: tuple[str, ...]
    templates: tuple[str, ...]
    threshold: float | None
    top_k: int
    source: str | None


@dataclass(frozen=True)
class LabelBank:
    """A vocabulary's label embeddings for one model, with the model's scoring constants."""

    fingerprint: str
    family: str
    logit_scale: float
    logit_bias: float | None
    vectors: NDArray[np.float32]


@dataclass(frozen=True)
class ImageTag:
    vocabulary: str
    label: str
    score: float


# Portable upserts (SQLite ≥ 3.24 and PostgreSQL): rows of embeddings deleted meanwhile vanish.
COVER_SQL = text(
    "INSERT INTO tag_coverage (vocabulary_id, embedding_id) SELECT :v, id FROM embeddings "
    "WHERE id = :e ON CONFLICT (vocabulary_id, embedding_id) DO NOTHING"
)
TAG_SQL = text(
    "INSERT INTO tags (vocabulary_id, embedding_id, label, score) SELECT :v, id, :l, :s "
    "FROM embeddings WHERE id = :e "
    "ON CONFLICT (vocabulary_id, embedding_id, label) DO UPDATE SET score = excluded.score"
)


class TagStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    # -- vocabularies -----------------------------------------------------------------------

    @staticmethod
    def _vocabulary(row: Any) -> StoredVocabulary:
        return StoredVocabulary(
            row.id,
            row.name,
            tuple(json.loads(row.labels_json)),
            tuple(json.loads(row.templates_json)),
            row.threshold,
            row.top_k,
            row.source,
        )

    def vocabulary(self, name: str) -> StoredVocabulary | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(vocabularies).where(vocabularies.c.name == name)).first()
        return self._vocabulary(row) if row else None

    def vocabularies(self) -> list[StoredVocabulary]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(vocabularies).order_by(vocabularies.c.name)).all()
        return [self._vocabulary(row) for row in rows]

    def save_vocabulary(
        self,
        name: str,
        labels: Sequence[str],
        templates: Sequence[str],
        threshold: float | None,
        top_k: int,
        source: str | None,
    ) -> tuple[StoredVocabulary, bool]:
        """Create or update a vocabulary. When its labels or templates change, its label
        embeddings, tags and coverage are dropped in the same transaction (the second value says
        so), so nothing computed from the old labels survives."""
        values = {
            "labels_json": json.dumps(list(labels), ensure_ascii=False),
            "templates_json": json.dumps(list(templates), ensure_ascii=False),
            "threshold": threshold,
            "top_k": top_k,
            "source": source,
            "updated_at": time.time(),
        }
        with self.engine.begin() as conn:
            row = conn.execute(select(vocabularies).where(vocabularies.c.name == name)).first()
            changed = row is not None and (
                row.labels_json != values["labels_json"]
                or row.templates_json != values["templates_json"]
            )
            scoring_changed = row is not None and (row.threshold != threshold or row.top_k != top_k)
            conn.execute(
                upsert(conn, vocabularies)
                .values(name=name, **values)
                .on_conflict_do_update(index_elements=[vocabularies.c.name], set_=values)
            )
            stored = conn.execute(select(vocabularies).where(vocabularies.c.name == name)).one()
            if changed:
                conn.execute(
                    delete(label_embeddings).where(label_embeddings.c.vocabulary_id == stored.id)
                )
            if changed or scoring_changed:
                mark_tags_changed(conn)
                conn.execute(delete(tags).where(tags.c.vocabulary_id == stored.id))
                conn.execute(delete(tag_coverage).where(tag_coverage.c.vocabulary_id == stored.id))
        return self._vocabulary(stored), changed or scoring_changed

    # -- label embeddings -------------------------------------------------------------------

    def label_bank(self, vocabulary_id: int, model_id: int) -> LabelBank | None:
        with self.engine.connect() as conn:
            row = conn.execute(
                select(label_embeddings).where(
                    label_embeddings.c.vocabulary_id == vocabulary_id,
                    label_embeddings.c.model_id == model_id,
                )
            ).first()
        if row is None:
            return None
        vectors = np.frombuffer(row.vectors, dtype=np.float32)
        return LabelBank(row.fingerprint, row.family, row.logit_scale, row.logit_bias, vectors)

    def save_label_bank(self, vocabulary_id: int, model_id: int, bank: LabelBank) -> None:
        values = {
            "fingerprint": bank.fingerprint,
            "family": bank.family,
            "logit_scale": bank.logit_scale,
            "logit_bias": bank.logit_bias,
            "vectors": np.ascontiguousarray(bank.vectors, dtype=np.float32).tobytes(),
        }
        with self.engine.begin() as conn:
            conn.execute(
                upsert(conn, label_embeddings)
                .values(vocabulary_id=vocabulary_id, model_id=model_id, **values)
                .on_conflict_do_update(
                    index_elements=[label_embeddings.c.vocabulary_id, label_embeddings.c.model_id],
                    set_=values,
                )
            )

    # -- tagging ----------------------------------------------------------------------------

    def untagged_count(self, vocabulary_id: int, model_id: int) -> int:
        with self.engine.connect() as conn:
            total = conn.execute(
                select(func.count())
                .select_from(embeddings)
                .where(embeddings.c.model_id == model_id)
            ).scalar_one()
            covered = conn.execute(
                select(func.count())
                .select_from(tag_coverage.join(embeddings))
                .where(
                    tag_coverage.c.vocabulary_id == vocabulary_id,
                    embeddings.c.model_id == model_id,
                )
            ).scalar_one()
        return int(total) - int(covered)

    def iter_untagged(
        self, vocabulary_id: int, model_id: int, dim: int, chunk: int = 20_000
    ) -> Iterator[tuple[NDArray[np.int64], NDArray[np.float32]]]:
        """Vectors of the model that the vocabulary has not looked at yet, in id order."""
        join = embeddings.outerjoin(
            tag_coverage,
            and_(
                tag_coverage.c.embedding_id == embeddings.c.id,
                tag_coverage.c.vocabulary_id == vocabulary_id,
            ),
        )
        query = (
            select(embeddings.c.id, embeddings.c.vector)
            .select_from(join)
            .where(embeddings.c.model_id == model_id, tag_coverage.c.embedding_id.is_(None))
        )
        return vector_pages(self.engine, query, dim, chunk)

    def write_tags(
        self,
        vocabulary_id: int,
        embedding_ids: Sequence[int],
        found: Sequence[tuple[int, str, float]],
    ) -> None:
        """Tags (embedding id, label, score) of a chunk, and its coverage, in one transaction.

        Embeddings deleted meanwhile (a concurrent re-index) are skipped, not an error."""
        with self.engine.begin() as conn:
            if found:
                mark_tags_changed(conn)
            if embedding_ids:
                conn.execute(COVER_SQL, [{"v": vocabulary_id, "e": int(i)} for i in embedding_ids])
            if not found:
                return
            conn.execute(
                TAG_SQL,
                [
                    {"v": vocabulary_id, "l": label, "s": score, "e": int(i)}
                    for i, label, score in found
                ],
            )

    # -- reading ----------------------------------------------------------------------------

    def counts(self, model_id: int) -> list[tuple[str, str, int]]:
        """(vocabulary, label, images) for every tag of the model, most frequent first."""
        query = (
            select(vocabularies.c.name, tags.c.label, func.count().label("n"))
            .select_from(tags.join(vocabularies).join(embeddings))
            .where(embeddings.c.model_id == model_id)
            .group_by(vocabularies.c.name, tags.c.label)
            .order_by(func.count().desc(), tags.c.label)
        )
        with self.engine.connect() as conn:
            return [(row.name, row.label, int(row.n)) for row in conn.execute(query)]

    def embeddings_tagged(self, labels: Sequence[str], model_id: int) -> NDArray[np.int64]:
        """Ids of the model's embeddings that carry every one of `labels` (any vocabulary)."""
        selected: set[int] | None = None
        with self.engine.connect() as conn:
            for label in labels:
                ids = {
                    int(i)
                    for i in conn.execute(
                        select(tags.c.embedding_id)
                        .join(embeddings)
                        .where(tags.c.label == label, embeddings.c.model_id == model_id)
                    ).scalars()
                }
                selected = ids if selected is None else selected & ids
        return np.array(sorted(selected or ()), dtype=np.int64)

    def best_labels(self, embedding_ids: Sequence[int], model_id: int) -> dict[int, str]:
        """Each embedding's highest-scoring label (of any vocabulary), for those with a tag."""
        best: dict[int, tuple[float, str]] = {}
        with self.engine.connect() as conn:
            for start in range(0, len(embedding_ids), 500):
                chunk = list(embedding_ids[start : start + 500])
                rows = conn.execute(
                    select(tags.c.embedding_id, tags.c.label, tags.c.score)
                    .join(embeddings)
                    .where(tags.c.embedding_id.in_(chunk), embeddings.c.model_id == model_id)
                )
                for row in rows:
                    held = best.get(row.embedding_id)
                    if held is None or row.score > held[0]:
                        best[row.embedding_id] = (float(row.score), row.label)
        return {embedding_id: label for embedding_id, (_, label) in best.items()}

    def tags_of_file(self, path: str, model_id: int) -> list[ImageTag]:
        query = (
            select(vocabularies.c.name, tags.c.label, tags.c.score)
            .select_from(
                tags.join(vocabularies)
                .join(embeddings)
                .join(files, files.c.image_id == embeddings.c.image_id)
            )
            .where(files.c.path == path, embeddings.c.model_id == model_id)
            .order_by(vocabularies.c.name, tags.c.score.desc())
        )
        with self.engine.connect() as conn:
            return [ImageTag(row.name, row.label, float(row.score)) for row in conn.execute(query)]
