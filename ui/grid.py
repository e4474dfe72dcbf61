"""A grid of photo thumbnails (`<img>`), each with its file name, score and the actions
"Open" and "More like this"."""

from __future__ import annotations

import math
import os
from collections.abc import Sequence

import streamlit as st

from searchapp.errors import SearchAppError
from searchapp.file_names import shown_path
from searchapp.search import PhotoHit
from searchapp.service import LibraryService
from ui.images import img_tag
from ui.state import search_like, select_photo

COLUMNS = 5
THUMBNAIL_SIZE = 256


def thumbnail_grid(
    service: LibraryService, hits: Sequence[PhotoHit], key: str, score_label: str = "score"
) -> None:
    for start in range(0, len(hits), COLUMNS):
        row = st.columns(COLUMNS, gap="small")
        for column, hit in zip(row, hits[start : start + COLUMNS], strict=False):
            with column:
                _card(service, hit, key, score_label)


def _card(service: LibraryService, hit: PhotoHit, key: str, score_label: str) -> None:
    name = shown_path(os.path.basename(hit.path))
    try:
        tag = img_tag(service.thumbnail(hit.id, THUMBNAIL_SIZE), name)
        st.markdown(f'<div class="thumb-box">{tag}</div>', unsafe_allow_html=True)
    except SearchAppError as exc:
        st.caption(f"No preview: {exc}")
    score = "" if math.isnan(hit.score) else f" · {score_label} {hit.score:.3f}"
    st.caption(f"{name}{score}", help=shown_path(hit.path))
    left, right = st.columns(2, gap="small")
    left.button(
        "Open",
        key=f"{key}-open-{hit.id}",
        on_click=select_photo,
        args=(hit.id,),
        width="stretch",
    )
    right.button(
        "Similar",
        key=f"{key}-like-{hit.id}",
        on_click=search_like,
        args=(hit.id,),
        help="More like this",
        width="stretch",
    )
