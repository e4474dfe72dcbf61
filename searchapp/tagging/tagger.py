"""Tagging a library with a vocabulary: a matrix product over the stored vectors.

Label embeddings (a prompt ensemble per label) are computed once per model and vocabulary and
cached in the store; tagging then reads stored vectors in chunks, never a photo, and writes each
chunk's tags with its coverage in one transaction, so an interrupted run resumes where it stopped.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from searchapp.library import Library
from searchapp.models.base import ZeroShotScoring
from searchapp.store import StoredModel
from searchapp.store.tag_store import LabelBank, StoredVocabulary
from searchapp.tagging.label_cache import load_bank, save_bank
from searchapp.tagging.scoring import (
    DEFAULT_TOP_K,
    default_threshold,
    label_scores,
    ranked,
    select_tags,
)
from searchapp.tagging.vocabulary import (
    LabelList,
    default_labels,
    default_templates,
)

log = logging.getLogger(__name__)
ProgressCallback = Callable[[int, int], None]
PROMPT_BATCH = 256
"""Prompts per text-tower call when labels are embedded; an encoder may name its own
(`prompt_batch`): ONNX Runtime is fastest at 32, the torch tower at 256 (measured on Zen 4)."""
READ_CHUNK = 20_000
SCORE_CHUNK = 4_096


@dataclass(frozen=True)
class TagRun:
    vocabulary: str
    images: int
    tags: int
    threshold: float
    top_k: int
    seconds: float

    def as_dict(self) -> dict[str, object]:
        return {
            "vocabulary": self.vocabulary,
            "images": self.images,
            "tags": self.tags,
            "threshold": self.threshold,
            "top_k": self.top_k,
            "seconds": round(self.seconds, 3),
        }


def ensemble_label_vectors(
    encode_texts: Callable[[Sequence[str]], NDArray[np.float32]],
    labels: Sequence[str],
    templates: Sequence[str],
    batch_size: int = PROMPT_BATCH,
) -> NDArray[np.float32]:
    """Each label's embedding: the re-normalised mean of its unit prompt embeddings.

    Prompts are encoded template by template, shortest first: each batch shares its template's
    start (which the torch text tower runs once) and is padded only to its own longest text."""
    prompts = [template.replace("{}", label) for label in labels for template in templates]
    count = len(templates)
    groups = [
        sorted(range(first, len(prompts), count), key=lambda i: len(prompts[i]))
        for first in range(count)
    ]
    batches = [
        group[start : start + batch_size]
        for group in groups
        for start in range(0, len(group), batch_size)
    ]
    order = [i for batch in batches for i in batch]
    encoded = np.concatenate([encode_texts([prompts[i] for i in batch]) for batch in batches])
    in_order = np.empty_like(encoded)
    in_order[np.asarray(order, dtype=np.int64)] = encoded
    per_prompt = in_order.reshape(len(labels), len(templates), -1)
    mean = per_prompt.mean(axis=1)
    normalised: NDArray[np.float32] = (
        mean / np.linalg.norm(mean, axis=1, keepdims=True).clip(min=1e-12)
    ).astype(np.float32)
    return normalised


def label_bank_fingerprint(
    model: StoredModel, labels: Sequence[str], templates: Sequence[str], precision: str = "fp32"
) -> str:
    """Covers the model, the labels, the templates and (other than fp32) the precision the
    embeddings were computed in."""
    parts: list[object] = [model.identity.key, list(labels), list(templates)]
    if precision != "fp32":
        parts.append(precision)
    payload = json.dumps(parts, ensure_ascii=False)
    return hashlib.sha256(payload.encode()).hexdigest()


def interchangeable_precisions(precision: str) -> tuple[str, ...]:
    """The precisions whose label banks serve a run that would compute them in `precision`:
    its own; fp32 and the torch model's bf16 / fp16 for one another (cosine to fp32 0.9999,
    so a library's index run and its later commands share one bank); int8 only itself."""
    if precision == "int8":
        return ("int8",)
    return (precision, *(other for other in ("fp32", "bf16", "fp16") if other != precision))


class Tagger:
    def __init__(self, library: Library, model: StoredModel) -> None:
        self.library = library
        self.model = model
        self.tag_store = library.store.tags

    # -- vocabularies -----------------------------------------------------------------------

    def use_vocabulary(
        self,
        labels: LabelList,
        templates: tuple[str, ...] | None = None,
        threshold: float | None = None,
        top_k: int | None = None,
        source: str | None = None,
    ) -> tuple[StoredVocabulary, bool]:
        """The stored vocabulary for these labels; settings not given keep their stored values.

        The second value is True when earlier tags of the vocabulary were dropped (its labels,
        templates, threshold or top-k changed), so everything is tagged again."""
        existing = self.tag_store.vocabulary(labels.name)
        if templates is None:
            templates = existing.templates if existing else default_templates()
        if threshold is None and existing is not None:
            threshold = existing.threshold
        if top_k is None:
            top_k = existing.top_k if existing else DEFAULT_TOP_K
        if source is None and existing is not None:
            source = existing.source
        if existing is not None and (
            existing.labels,
            existing.templates,
            existing.threshold,
            existing.top_k,
            existing.source,
        ) == (labels.labels, templates, threshold, top_k, source):
            return existing, False
        return self.tag_store.save_vocabulary(
            labels.name, labels.labels, templates, threshold, top_k, source
        )

    def default_vocabulary(self) -> StoredVocabulary:
        vocabulary, replaced = self.use_vocabulary(default_labels(), source="built-in")
        if replaced:
            log.info("default vocabulary updated; its tags will be computed again")
        return vocabulary

    # -- label embeddings -------------------------------------------------------------------

    def label_bank(
        self, labels: Sequence[str], templates: Sequence[str], vocabulary_id: int | None = None
    ) -> LabelBank:
        """Label embeddings for the library's model: from the store's cache when current, else
        from the user cache (another library of the model made them), else computed in
        `Library.label_precision` (and cached in both when the vocabulary is stored)."""
        precision = self.library.label_precision(self.model)
        fingerprint = label_bank_fingerprint(self.model, labels, templates, precision)
        usable = [
            label_bank_fingerprint(self.model, labels, templates, other)
            for other in interchangeable_precisions(precision)
        ]
        if vocabulary_id is not None:
            cached = self.tag_store.label_bank(vocabulary_id, self.model.id)
            if cached is not None and cached.fingerprint in usable:
                vectors = cached.vectors.reshape(len(labels), self.model.dim)
                scale, bias = cached.logit_scale, cached.logit_bias
                return LabelBank(cached.fingerprint, cached.family, scale, bias, vectors)
        cache_dir = self.library.settings.cache_dir
        for candidate in usable:
            shared = load_bank(cache_dir, candidate, len(labels), self.model.dim)
            if shared is not None:
                log.info("label embeddings of %d labels read from the user cache", len(labels))
                if vocabulary_id is not None:
                    self.tag_store.save_label_bank(vocabulary_id, self.model.id, shared)
                return shared
        started = time.perf_counter()
        encoder = self.library.label_encoder(self.model, precision)
        try:
            batch_size = int(getattr(encoder, "prompt_batch", PROMPT_BATCH))
            vectors = ensemble_label_vectors(encoder.encode_texts, labels, templates, batch_size)
        finally:
            if precision == "int8":
                getattr(encoder, "close", lambda: None)()
        scoring = self.library.zero_shot_scoring(self.model)
        bank = LabelBank(
            fingerprint, scoring.family, scoring.logit_scale, scoring.logit_bias, vectors
        )
        log.info(
            "embedded %d labels × %d prompt templates (%s) in %.1f s",
            len(labels),
            len(templates),
            precision,
            time.perf_counter() - started,
        )
        save_bank(cache_dir, bank)
        if vocabulary_id is not None:
            self.tag_store.save_label_bank(vocabulary_id, self.model.id, bank)
        return bank

    @staticmethod
    def scoring(bank: LabelBank) -> ZeroShotScoring:
        return ZeroShotScoring(bank.family, bank.logit_scale, bank.logit_bias)

    # -- tagging ----------------------------------------------------------------------------

    def tag(self, vocabulary: StoredVocabulary, progress: ProgressCallback | None = None) -> TagRun:
        """Tag every image of the model that this vocabulary has not looked at yet."""
        started = time.perf_counter()
        total = self.tag_store.untagged_count(vocabulary.id, self.model.id)
        bank: LabelBank | None = None
        threshold = vocabulary.threshold
        if threshold is None:
            threshold = default_threshold("clip")
        images = written = 0
        if progress is not None:
            progress(0, total)
        if total > 0:
            bank = self.label_bank(vocabulary.labels, vocabulary.templates, vocabulary.id)
            scoring = self.scoring(bank)
            if vocabulary.threshold is None:
                threshold = default_threshold(bank.family)
            chunks = self.tag_store.iter_untagged(
                vocabulary.id, self.model.id, self.model.dim, READ_CHUNK
            )
            for ids, vectors in chunks:
                found: list[tuple[int, str, float]] = []
                for start in range(0, len(ids), SCORE_CHUNK):
                    scores = label_scores(
                        vectors[start : start + SCORE_CHUNK], bank.vectors, scoring
                    )
                    rows, columns, values = select_tags(scores, threshold, vocabulary.top_k)
                    found.extend(
                        (int(ids[start + row]), vocabulary.labels[column], float(value))
                        for row, column, value in zip(
                            rows.tolist(), columns.tolist(), values.tolist(), strict=True
                        )
                    )
                self.tag_store.write_tags(vocabulary.id, ids.tolist(), found)
                images += len(ids)
                written += len(found)
                if progress is not None:
                    progress(images, max(total, images))
        seconds = time.perf_counter() - started
        if images:
            log.info(
                "tagged %d images with vocabulary %s: %d tags in %.1f s",
                images,
                vocabulary.name,
                written,
                seconds,
            )
        return TagRun(vocabulary.name, images, written, threshold, vocabulary.top_k, seconds)

    def tag_new_images(self) -> list[TagRun]:
        """After indexing: every stored vocabulary (the default one at least) tags new images."""
        self.default_vocabulary()
        runs = [self.tag(vocabulary) for vocabulary in self.tag_store.vocabularies()]
        return [run for run in runs if run.images > 0]

    # -- one image --------------------------------------------------------------------------

    def classify(
        self,
        vector: NDArray[np.float32],
        labels: LabelList | None = None,
        templates: tuple[str, ...] | None = None,
    ) -> list[tuple[str, float]]:
        """Every label of the vocabulary for one image vector, best first."""
        if labels is None:
            labels = default_labels()
        stored = self.tag_store.vocabulary(labels.name)
        if templates is None:
            templates = stored.templates if stored else default_templates()
        same = stored is not None and (stored.labels, stored.templates) == (
            labels.labels,
            templates,
        )
        bank = self.label_bank(labels.labels, templates, stored.id if same and stored else None)
        scores = label_scores(vector.reshape(1, -1), bank.vectors, self.scoring(bank))[0]
        return ranked(scores, labels.labels)
