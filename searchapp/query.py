"""What a search asks for: weighted positive and negative terms, each a text, an image file, an
indexed photo or a vector, combined into one query vector.

The query vector is `normalise(Σ wᵢ·eᵢ − Σ wⱼ·eⱼ)` over the positive terms i and the negative
terms j, where every term's embedding e is a unit vector and w its weight (default 1). On the
command line this is rclip's syntax: `"2:golden retriever + ./pool.jpg - fruit"`.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from searchapp.errors import InvalidQueryError

_OPERATOR = re.compile(r"\s+([+-])(?:\s+|$)")
_WEIGHT = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*:(.*)$", re.DOTALL)
_PHOTO_ID = re.compile(r"^photo:(\d+)$")
MAX_TERMS = 32
MAX_PHOTO_ID = 2**63


@dataclass(frozen=True)
class TextTerm:
    text: str


@dataclass(frozen=True)
class ImageFileTerm:
    """An image file, inside or outside the library."""

    path: Path


@dataclass(frozen=True)
class PhotoTerm:
    """An indexed photo, by its id."""

    photo_id: int


@dataclass(frozen=True, eq=False)
class VectorTerm:
    """A ready embedding (for scripts holding their own vectors)."""

    vector: NDArray[np.float32]


Term = TextTerm | ImageFileTerm | PhotoTerm | VectorTerm


@dataclass(frozen=True)
class WeightedTerm:
    term: Term
    weight: float = 1.0


@dataclass(frozen=True)
class Query:
    positive: tuple[WeightedTerm, ...]
    negative: tuple[WeightedTerm, ...] = field(default=())

    def __post_init__(self) -> None:
        if not self.positive:
            raise InvalidQueryError("A query needs at least one positive term.")
        if len(self.positive) + len(self.negative) > MAX_TERMS:
            raise InvalidQueryError(f"A query takes at most {MAX_TERMS} terms.")
        for weighted in (*self.positive, *self.negative):
            if not math.isfinite(weighted.weight) or weighted.weight <= 0:
                raise InvalidQueryError(
                    f"Term weights must be positive numbers, not {weighted.weight}."
                )
            term = weighted.term
            if isinstance(term, PhotoTerm) and not 0 <= term.photo_id < MAX_PHOTO_ID:
                raise InvalidQueryError(f"No indexed photo has the id {term.photo_id}.")
            if isinstance(term, TextTerm) and not term.text.strip():
                raise InvalidQueryError("A text term is empty; type what to look for.")

    @classmethod
    def text(cls, text: str) -> Query:
        return cls((WeightedTerm(TextTerm(text)),))

    @classmethod
    def image(cls, path: Path) -> Query:
        return cls((WeightedTerm(ImageFileTerm(path)),))

    @classmethod
    def photo(cls, photo_id: int) -> Query:
        return cls((WeightedTerm(PhotoTerm(photo_id)),))

    @property
    def terms(self) -> tuple[WeightedTerm, ...]:
        return (*self.positive, *self.negative)


def _is_image_file(text: str) -> bool:
    return os.path.isfile(os.path.expanduser(text))


def _term(text: str, is_image_file: Callable[[str], bool]) -> Term:
    stripped = text.strip()
    photo = _PHOTO_ID.match(stripped)
    if photo:
        return PhotoTerm(int(photo.group(1)))
    if is_image_file(stripped):
        return ImageFileTerm(Path(os.path.expanduser(stripped)))
    return TextTerm(stripped)


def parse_query(text: str, is_image_file: Callable[[str], bool] = _is_image_file) -> Query:
    """rclip's query syntax: terms joined by ` + ` or ` - ` (spaces around the operator), each
    with an optional `N:` weight prefix. A term naming an existing file is an image; `photo:ID`
    is an indexed photo; anything else is text. The first term is positive."""
    if not text.strip():
        raise InvalidQueryError("The query is empty; type what to look for.")
    parts = _OPERATOR.split(text.strip())
    signs = ["+", *parts[1::2]]
    positive: list[WeightedTerm] = []
    negative: list[WeightedTerm] = []
    for sign, raw in zip(signs, parts[0::2], strict=True):
        weight = 1.0
        weighted = _WEIGHT.match(raw)
        if weighted and not is_image_file(raw.strip()):
            weight, raw = float(weighted.group(1)), weighted.group(2)
        if not raw.strip():
            raise InvalidQueryError(f"An empty term in the query {text!r}.")
        (positive if sign == "+" else negative).append(
            WeightedTerm(_term(raw, is_image_file), weight)
        )
    return Query(tuple(positive), tuple(negative))


def combine(
    positive: Sequence[tuple[float, NDArray[np.float32]]],
    negative: Sequence[tuple[float, NDArray[np.float32]]] = (),
) -> NDArray[np.float32]:
    """The normalised weighted sum of unit term vectors (negatives subtracted)."""
    total = np.zeros_like(positive[0][1], dtype=np.float64)
    for weight, vector in positive:
        total += weight * _unit(vector)
    for weight, vector in negative:
        total -= weight * _unit(vector)
    norm = float(np.linalg.norm(total))
    if norm < 1e-9:
        raise InvalidQueryError(
            "The query's terms cancel each other out; change a weight or drop a negative term."
        )
    out: NDArray[np.float32] = (total / norm).astype(np.float32)
    return out


def _unit(vector: NDArray[np.float32]) -> NDArray[np.float64]:
    v = np.asarray(vector, dtype=np.float64).reshape(-1)
    norm = float(np.linalg.norm(v))
    if not math.isfinite(norm) or norm == 0:
        raise InvalidQueryError("A query vector is zero or not finite.")
    return v / norm
