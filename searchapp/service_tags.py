"""Tagging use cases of the application layer: tag the library with a vocabulary, classify one
image, tag counts and browsing by tag."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from searchapp.search import PhotoHit, hit_of
from searchapp.service_core import ServiceCore

if TYPE_CHECKING:
    from searchapp.tagging.tagger import TagRun
    from searchapp.tagging.vocabulary import LabelList


@dataclass(frozen=True)
class TagReport:
    run: TagRun
    labels: int
    duplicates_dropped: int
    replaced_earlier_tags: bool

    def as_dict(self) -> dict[str, object]:
        return {
            **self.run.as_dict(),
            "labels": self.labels,
            "duplicates_dropped": self.duplicates_dropped,
            "replaced_earlier_tags": self.replaced_earlier_tags,
        }


class TagUseCases(ServiceCore):
    def tag_counts(self, vocabulary: str | None = None) -> list[tuple[str, str, int]]:
        """(vocabulary, label, photos) for every tag, most frequent first."""
        counts = self.store.tags.counts(self.query_model().id)
        return [row for row in counts if vocabulary is None or row[0] == vocabulary]

    def photos_tagged(self, label: str, limit: int = 60, offset: int = 0) -> list[PhotoHit]:
        """Browse by tag: the photos carrying `label`, each hit's score its tag score."""
        model = self.query_model()
        rows = self.store.photos.tagged(label, model.id, limit, offset)
        return [hit_of(row, score) for row, score in rows]

    def tag(
        self,
        labels: LabelList,
        templates: tuple[str, ...] | None = None,
        threshold: float | None = None,
        top_k: int | None = None,
        source: str | None = None,
        progress: Callable[[int, int], None] | None = None,
    ) -> TagReport:
        """Store the vocabulary and tag every photo with its labels that fit."""
        from searchapp.tagging.tagger import Tagger

        tagger = Tagger(self.library, self.query_model())
        vocabulary, replaced = tagger.use_vocabulary(labels, templates, threshold, top_k, source)
        run = tagger.tag(vocabulary, progress)
        return TagReport(run, len(labels.labels), labels.duplicates_dropped, replaced)

    def classify(
        self,
        vector: NDArray[np.float32],
        labels: LabelList | None = None,
        templates: tuple[str, ...] | None = None,
        top_k: int = 10,
    ) -> list[tuple[str, float]]:
        """The vocabulary's labels ranked for one image vector (`image_vector`, `photo_vector`,
        `image_bytes_vector`); nothing is stored."""
        from searchapp.tagging.tagger import Tagger

        return Tagger(self.library, self.query_model()).classify(vector, labels, templates)[:top_k]
