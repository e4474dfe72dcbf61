"""Search filters and the relevance cutoff as front ends receive them (strings), checked and
turned into a `PhotoFilter` / a `min_score`, with one clear message for a bad value."""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from datetime import date
from typing import Literal

from searchapp.errors import InvalidQueryError
from searchapp.store.photo_queries import FILE_TYPES, PhotoFilter, normalise_file_type


def _day(value: str | date | None, name: str) -> date | None:
    if value is None or isinstance(value, date):
        return value
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise InvalidQueryError(f"{name} must be a date like 2024-07-31, not {value!r}.") from None


def parse_filter(
    folders: Sequence[str] = (),
    taken_after: str | date | None = None,
    taken_before: str | date | None = None,
    tags: Sequence[str] = (),
    file_types: Sequence[str] = (),
    cameras: Sequence[str] = (),
    min_width: int | None = None,
    min_height: int | None = None,
    require_absolute: bool = False,
) -> PhotoFilter:
    """`require_absolute`: folders must be absolute paths (the API; the CLI resolves them)."""
    resolved: list[str] = []
    for folder in folders:
        if require_absolute and not os.path.isabs(folder):
            raise InvalidQueryError(f"folder must be an absolute path, not {folder!r}.")
        resolved.append(os.path.abspath(os.path.expanduser(folder)))
    types: list[str] = []
    for name in file_types:
        canonical = normalise_file_type(name)
        if canonical is None:
            raise InvalidQueryError(
                f"Unknown file type {name!r}; use one of: {', '.join(FILE_TYPES)}."
            )
        types.append(canonical)
    after = _day(taken_after, "taken_after")
    before = _day(taken_before, "taken_before")
    if after is not None and before is not None and after > before:
        raise InvalidQueryError(f"taken_after ({after}) is later than taken_before ({before}).")
    for name, value in (("min_width", min_width), ("min_height", min_height)):
        if value is not None and value < 0:
            raise InvalidQueryError(f"{name} cannot be negative.")
    return PhotoFilter(
        folders=tuple(resolved),
        taken_after=after,
        taken_before=before,
        tags=tuple(t for t in tags if t.strip()),
        file_types=tuple(dict.fromkeys(types)),
        cameras=tuple(c for c in cameras if c.strip()),
        min_width=min_width,
        min_height=min_height,
    )


def parse_min_score(value: str | float | None) -> float | Literal["auto"] | None:
    """A cosine similarity in [-1, 1], `auto`, or nothing."""
    if value is None:
        return None
    if isinstance(value, str):
        text = value.strip().lower()
        if text == "auto":
            return "auto"
        try:
            number = float(text)
        except ValueError:
            raise InvalidQueryError(
                f"min_score must be a number between -1 and 1 or 'auto', not {value!r}."
            ) from None
    else:
        number = float(value)
    if not (math.isfinite(number) and -1.0 <= number <= 1.0):
        raise InvalidQueryError(
            f"min_score is a cosine similarity between -1 and 1 (or 'auto'), not {value}."
        )
    return number
