"""Request bodies (pydantic models, so the OpenAPI schema describes them) and their conversion
into the application layer's query, filter and options."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from searchapp.filters import parse_filter, parse_min_score
from searchapp.query import MAX_PHOTO_ID, PhotoTerm, Query, TextTerm, WeightedTerm
from searchapp.search import MAX_OFFSET, MAX_TOP_K, SearchOptions
from searchapp.store.photo_queries import PhotoFilter

MAX_TEXT = 1000


class SearchParams(BaseModel):
    """What GET /search takes as query parameters and POST /search as body fields."""

    model_config = ConfigDict(extra="forbid")

    top_k: int = Field(10, ge=1, le=MAX_TOP_K)
    offset: int = Field(0, ge=0, le=MAX_OFFSET)
    min_score: str | float | None = Field(
        None, description="A cosine similarity in [-1, 1], or `auto` for a per-query cutoff."
    )
    sort: Literal["score", "date"] = "score"
    hybrid: bool = Field(False, description="Merge with the captions' full-text ranking.")
    tag: list[str] = Field(default_factory=list, description="Photos with all of these tags.")
    folder: list[str] = Field(default_factory=list, description="Absolute folder paths.")
    taken_after: str | None = Field(None, description="YYYY-MM-DD, inclusive.")
    taken_before: str | None = Field(None, description="YYYY-MM-DD, inclusive of that day.")
    type: list[str] = Field(default_factory=list, description="File types, e.g. jpeg, png.")
    camera: list[str] = Field(default_factory=list)
    min_width: int | None = Field(None, ge=0)
    min_height: int | None = Field(None, ge=0)

    def photo_filter(self) -> PhotoFilter:
        return parse_filter(
            self.folder,
            self.taken_after,
            self.taken_before,
            self.tag,
            self.type,
            self.camera,
            self.min_width,
            self.min_height,
            require_absolute=True,
        )

    def options(self) -> SearchOptions:
        return SearchOptions(
            self.top_k, self.offset, parse_min_score(self.min_score), self.sort, self.hybrid
        )


class TermBody(BaseModel):
    """One query term: a text or an indexed photo's id, with a weight."""

    model_config = ConfigDict(extra="forbid")

    text: str | None = Field(None, min_length=1, max_length=MAX_TEXT)
    image_id: int | None = Field(None, ge=0, lt=MAX_PHOTO_ID)
    weight: float = Field(1.0, gt=0, le=1000)

    @model_validator(mode="after")
    def one_kind(self) -> TermBody:
        if (self.text is None) == (self.image_id is None):
            raise ValueError("a term has either `text` or `image_id`, exactly one of them")
        return self

    def weighted(self) -> WeightedTerm:
        if self.text is not None:
            return WeightedTerm(TextTerm(self.text), self.weight)
        assert self.image_id is not None
        return WeightedTerm(PhotoTerm(self.image_id), self.weight)


class SearchBody(SearchParams):
    positive: list[TermBody] = Field(min_length=1, max_length=32)
    negative: list[TermBody] = Field(default_factory=list, max_length=32)

    def query(self) -> Query:
        return Query(
            tuple(t.weighted() for t in self.positive), tuple(t.weighted() for t in self.negative)
        )


class ClassifyBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    image_id: int = Field(ge=0, lt=MAX_PHOTO_ID)
    labels: list[str] | None = Field(
        None, description="Labels to rank; default: the built-in vocabulary.", max_length=10_000
    )
    templates: list[str] | None = Field(None, description='Prompt templates with "{}".')
    top_k: int = Field(10, ge=1, le=1000)


class TagBody(BaseModel):
    """A tagging run: store the vocabulary and tag every photo with its labels that fit."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field("api", min_length=1, max_length=100, description="The vocabulary's name.")
    labels: list[str] | None = Field(
        None, description="Default: the built-in vocabulary.", max_length=10_000
    )
    templates: list[str] | None = None
    threshold: float | None = Field(None, ge=0, le=1)
    top_k: int | None = Field(None, ge=1, le=1000)
