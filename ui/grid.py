"""A grid of photo thumbnails (`<img>`), each with its file name, score and the actions
"Open" and "More like this", drawn as one element (`ui.photo_grid`) in a fragment: opening a
photo reruns the grid and its dialog, not the page."""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path

import streamlit as st

from searchapp.errors import SearchAppError
from searchapp.file_names import shown_path
from searchapp.search import PhotoHit
from searchapp.service import LibraryService
from ui.images import media_url
from ui.photo_grid import Card, photo_grid
from ui.photo_panel import open_photo_if_asked
from ui.state import rerun_app_if_asked, search_like, select_photo

COLUMNS = 5
THUMBNAIL_SIZE = 256


def _thumbnails(service: LibraryService, hits: Sequence[PhotoHit], key: str) -> list[Path | str]:
    """Each hit's thumbnail file (or why it has none), looked up once per list of hits: a rerun
    that shows the same results (opening a photo) does not look them up again."""
    kept: dict[str, tuple[tuple[int, ...], list[Path | str]]]
    kept = st.session_state.setdefault("grid_thumbnails", {})
    ids = tuple(hit.id for hit in hits)
    if key in kept and kept[key][0] == ids:
        return kept[key][1]
    files: list[Path | str] = []
    for hit in hits:
        try:
            files.append(service.thumbnail(hit.id, THUMBNAIL_SIZE))
        except SearchAppError as exc:
            files.append(f"No preview: {exc}")
    kept[key] = (ids, files)
    return files


def _card(hit: PhotoHit, thumbnail: Path | str, score_label: str) -> Card:
    name = shown_path(os.path.basename(hit.path))
    score = "" if math.isnan(hit.score) else f" · {score_label} {hit.score:.3f}"
    src, problem = (media_url(thumbnail), "") if isinstance(thumbnail, Path) else ("", thumbnail)
    path = shown_path(hit.path)
    return Card(id=hit.id, src=src, name=name, path=path, label=name + score, problem=problem)


@st.fragment
def thumbnail_grid(
    service: LibraryService, hits: Sequence[PhotoHit], key: str, score_label: str = "score"
) -> None:
    thumbnails = _thumbnails(service, hits, key)
    cards = [_card(hit, file, score_label) for hit, file in zip(hits, thumbnails, strict=True)]
    photo_grid(cards, key, COLUMNS, on_open=select_photo, on_like=search_like)
    rerun_app_if_asked()
    open_photo_if_asked(service)
