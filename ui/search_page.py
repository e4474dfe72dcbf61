"""The search view: a text box (Enter searches), an image upload, "more like this", a "without"
term, filters, the relevance cutoff, sort order and a progressive grid of results."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import date
from typing import Literal

import numpy as np
import streamlit as st
from numpy.typing import NDArray

from searchapp.errors import SearchAppError
from searchapp.filters import parse_filter
from searchapp.query import PhotoTerm, Query, Term, TextTerm, VectorTerm, WeightedTerm
from searchapp.search import SearchOptions, SearchResponse
from searchapp.service import LibraryService
from searchapp.store.photo_queries import PhotoFilter
from ui.empty_states import show_library_empty
from ui.grid import thumbnail_grid
from ui.state import LIKE

PAGE_SIZE = 60
"""Results per page: the first page paints at once, "Show more" adds another."""


@dataclass(frozen=True)
class SearchForm:
    text: str
    without: str
    like: int | None
    upload: tuple[str, NDArray[np.float32]] | None
    """(the uploaded file's id, its vector)"""
    photo_filter: PhotoFilter
    min_score: float | Literal["auto"]
    sort: Literal["score", "date"]

    def signature(self) -> tuple[object, ...]:
        """What decides the results (the upload by its file id, not its vector)."""
        upload = None if self.upload is None else self.upload[0]
        return (
            self.text,
            self.without,
            self.like,
            upload,
            self.photo_filter,
            self.min_score,
            self.sort,
        )

    def query(self) -> Query | None:
        positive: list[Term] = []
        if self.text.strip():
            positive.append(TextTerm(self.text.strip()))
        if self.like is not None:
            positive.append(PhotoTerm(self.like))
        if self.upload is not None:
            positive.append(VectorTerm(self.upload[1]))
        if not positive:
            return None
        negative = (WeightedTerm(TextTerm(self.without.strip())),) if self.without.strip() else ()
        return Query(tuple(WeightedTerm(t) for t in positive), negative)


def _uploaded_vector(service: LibraryService) -> tuple[str, NDArray[np.float32]] | None:
    upload = st.file_uploader(
        "Search by image: drop a photo here",
        type=["jpg", "jpeg", "png", "webp", "gif", "bmp", "tif", "tiff", "heic", "heif", "avif"],
        key="upload",
    )
    if upload is None:
        return None
    cached = st.session_state.get("upload_vector")
    if cached is not None and cached[0] == upload.file_id:
        return upload.file_id, cached[1]
    vector = service.image_bytes_vector(upload.getvalue(), upload.name)
    st.session_state["upload_vector"] = (upload.file_id, vector)
    return upload.file_id, vector


@st.cache_data(ttl=30, show_spinner=False)
def _filter_choices(data_dir: str, _service: LibraryService) -> tuple[list[str], list[str]]:
    if _service.is_empty():
        return [], []
    labels = sorted({label for _, label, _ in _service.tag_counts()})
    return labels, _service.folders()


def _filters(service: LibraryService) -> PhotoFilter:
    labels, roots = _filter_choices(str(service.settings.data_dir), service)
    with st.expander("Filters", expanded=False):
        left, middle, right = st.columns(3)
        tags = left.multiselect("Tags (all of them)", labels, key="filter_tags")
        folders = middle.multiselect(
            "Folders", roots, key="filter_folders", accept_new_options=True
        )
        period: object
        if "filter_dates" in st.session_state:
            period = right.date_input("Taken between", key="filter_dates")
        else:
            period = right.date_input("Taken between", value=[], key="filter_dates")
    after: date | None = None
    before: date | None = None
    if isinstance(period, tuple) and period:
        after = period[0]
        before = period[1] if len(period) > 1 else None
    return parse_filter(folders, after, before, tags)


def _cutoff_and_sort() -> tuple[float | Literal["auto"], Literal["score", "date"]]:
    left, middle, right = st.columns([1, 2, 1])
    st.session_state.setdefault("auto_cutoff", True)
    st.session_state.setdefault("min_score", 0.2)
    auto = left.toggle("Auto cutoff", key="auto_cutoff", help="Keep only clearly relevant photos.")
    floor = middle.slider(
        "Minimum score",
        -1.0,
        1.0,
        step=0.01,
        key="min_score",
        disabled=auto,
        help="Turn the auto cutoff off to choose the minimum similarity yourself.",
    )
    order = right.radio(
        "Sort", ["Relevance", "Newest"], horizontal=True, key="sort", label_visibility="collapsed"
    )
    return ("auto" if auto else float(floor)), ("date" if order == "Newest" else "score")


def _like_chip() -> int | None:
    like = st.session_state.get(LIKE)
    if like is None:
        return None
    st.button(
        f"✕ Like photo {like}",
        key="clear_like",
        on_click=lambda: st.session_state.update({LIKE: None}),
        help="Stop searching for photos like this one",
    )
    return int(like)


def _form(service: LibraryService) -> SearchForm:
    text = st.text_input(
        "Search your photos",
        key="query",
        placeholder="Describe a photo, e.g. kids on a beach at sunset — press Enter",
    )
    like = _like_chip()
    left, right = st.columns([2, 1])
    with left:
        upload = _uploaded_vector(service)
    without = right.text_input("Without", key="without", placeholder="e.g. people")
    photo_filter = _filters(service)
    min_score, sort = _cutoff_and_sort()
    return SearchForm(text, without, like, upload, photo_filter, min_score, sort)


def _run(service: LibraryService, form: SearchForm, query: Query, pages: int) -> SearchResponse:
    options = SearchOptions(top_k=PAGE_SIZE * pages, min_score=form.min_score, sort=form.sort)
    return service.search(query, form.photo_filter, options)


def search_page(service: LibraryService) -> None:
    try:
        form = _form(service)
        query = form.query()
    except SearchAppError as exc:
        st.error(str(exc))
        return
    if service.is_empty():
        show_library_empty()
        return
    if query is None:
        st.info(
            "Type what you are looking for and press Enter, or drop a photo to find similar ones."
        )
        return
    signature = form.signature()
    if st.session_state.get("search_signature") != signature:
        st.session_state["search_signature"] = signature
        st.session_state["pages"] = 1
    pages = int(st.session_state.get("pages", 1))
    cached = st.session_state.get("search_result")
    if cached is not None and cached[0] == (signature, pages):
        response, elapsed = cached[1], cached[2]
    else:
        started = time.perf_counter()
        try:
            response = _run(service, form, query, pages)
        except SearchAppError as exc:
            st.error(str(exc))
            return
        elapsed = (time.perf_counter() - started) * 1000
        st.session_state["search_result"] = ((signature, pages), response, elapsed)
    _render(service, form, response, pages, elapsed)


def _render(
    service: LibraryService, form: SearchForm, response: SearchResponse, pages: int, ms: float
) -> None:
    hits = response.results
    if not hits:
        advice = "try removing a filter" if not form.photo_filter.is_empty else "try other words"
        if form.min_score == "auto" or isinstance(form.min_score, float):
            advice += " or lower the cutoff (turn Auto cutoff off and move the slider left)"
        st.warning(f"No photos match. {advice[0].upper()}{advice[1:]}.")
        if form.min_score == "auto":
            st.button(
                "Show photos below the automatic cutoff",
                key="cutoff_off",
                on_click=lambda: st.session_state.update(auto_cutoff=False),
            )
        return
    more = len(hits) == PAGE_SIZE * pages
    cutoff = "" if response.cutoff is None else f" · cutoff {response.cutoff:.3f}"
    st.caption(
        f"{len(hits)}{'+' if more else ''} photos · query {ms:.0f} ms{cutoff}",
        help=", ".join(f"{k} {v:.1f} ms" for k, v in response.timings.items()),
    )
    thumbnail_grid(service, hits, "results")
    if more:
        st.button(
            "Show more",
            key="more",
            on_click=lambda: st.session_state.update(pages=pages + 1),
        )
