"""The collection view: tag counts as a chart, browse by tag, the 2-D map of the library (click a
point to open the photo), duplicate groups, and the indexing status, refreshed live."""

from __future__ import annotations

import os
from typing import Any

import altair as alt
import pandas as pd
import streamlit as st

from searchapp.errors import SearchAppError
from searchapp.file_names import shown_path
from searchapp.near_duplicates import DuplicateGroup
from searchapp.service import LibraryService
from ui.empty_states import show_library_empty
from ui.grid import COLUMNS, THUMBNAIL_SIZE, thumbnail_grid
from ui.images import img_tag
from ui.indexing_status import indexing_status
from ui.state import select_photo

TOP_TAGS = 30
BROWSE_PAGE = 60
MAX_GROUPS = 30


def collection_page(service: LibraryService) -> None:
    indexing_status(service)
    if service.is_empty():
        show_library_empty()
        return
    try:
        counts = service.tag_counts()
        tags_column, map_column = st.columns([1, 2])
        with tags_column:
            _tag_chart(counts)
        with map_column:
            _library_map(service)
        _browse_by_tag(service, counts)
        _duplicate_groups(service)
    except SearchAppError as exc:
        st.error(str(exc))


def _tag_chart(counts: list[tuple[str, str, int]]) -> None:
    st.subheader("Tags")
    if not counts:
        st.caption("No tags yet: run a vocabulary in Library (or `searchapp tag`).")
        return
    data = [{"tag": label, "photos": n} for _, label, n in counts[:TOP_TAGS]]
    chart = (
        alt.Chart(pd.DataFrame(data))
        .mark_bar()
        .encode(
            x=alt.X("photos:Q", title="photos"),
            y=alt.Y("tag:N", sort="-x", title=None),
            tooltip=["tag:N", "photos:Q"],
        )
    )
    st.altair_chart(chart, width="stretch")


def _library_map(service: LibraryService) -> None:
    st.subheader("Map")
    library_map = service.library_map()
    tagged = any(p.tag for p in library_map.points)
    st.session_state.setdefault("map_colour", "tag" if tagged else "folder")
    colour_by = st.radio("Colour by", ["tag", "folder"], horizontal=True, key="map_colour")
    if len(library_map.points) < 2:
        st.caption("The map needs at least two indexed photos.")
        return
    data = [
        {
            "id": p.photo_id,
            "x": p.x,
            "y": p.y,
            "name": os.path.basename(p.path),
            "tag": p.tag or "(untagged)",
            "folder": p.folder,
        }
        for p in library_map.points
    ]
    chart = (
        alt.Chart(pd.DataFrame(data))
        .mark_circle(size=60, opacity=0.8)
        .encode(
            x=alt.X("x:Q", axis=None),
            y=alt.Y("y:Q", axis=None),
            color=alt.Color(f"{colour_by}:N", legend=alt.Legend(orient="bottom", columns=4)),
            tooltip=["name:N", "tag:N", "folder:N"],
        )
        .add_params(alt.selection_point(name="photo", fields=["id"], on="click"))
    )
    event: Any = st.altair_chart(
        chart, key="library_map", on_select="rerun", selection_mode="photo", width="stretch"
    )
    share = sum(library_map.explained)
    sampled = "" if len(data) == library_map.vectors else f" (a sample of {library_map.vectors})"
    st.caption(
        f"{len(data)} photos{sampled}, placed by how they look (PCA, {share:.0%} of the variance). "
        "Click a point to open the photo."
    )
    picked = event.selection.get("photo") if event is not None else None
    if picked:
        photo_id = int(picked[0]["id"])
        if st.session_state.get("map_opened") != photo_id:
            st.session_state["map_opened"] = photo_id
            select_photo(photo_id)


def _browse_by_tag(service: LibraryService, counts: list[tuple[str, str, int]]) -> None:
    st.subheader("Browse by tag")
    labels = list(dict.fromkeys(label for _, label, _ in counts))
    if not labels:
        st.caption("No tags to browse yet.")
        return
    label = st.selectbox("Tag", labels, key="browse_tag")
    if label is None:
        return
    hits = service.photos_tagged(label, BROWSE_PAGE)
    thumbnail_grid(service, hits, "browse", score_label="tag score")


def _duplicate_groups(service: LibraryService) -> None:
    st.subheader("Near-duplicates")
    groups: list[DuplicateGroup] | None = st.session_state.get("duplicate_groups")
    if st.button("Find near-duplicates" if groups is None else "Look again", key="find_dups"):
        with st.spinner("Comparing every photo with its nearest neighbours…"):
            groups = service.duplicates()
        st.session_state["duplicate_groups"] = groups
    if groups is None:
        return
    if not groups:
        st.caption("No near-duplicate photos found.")
        return
    st.caption(f"{len(groups)} groups; the best copy (largest, then biggest file) comes first.")
    for number, group in enumerate(groups[:MAX_GROUPS], start=1):
        st.markdown(f"**Group {number}** · similarity {group.similarity:.3f}")
        columns = st.columns(COLUMNS)
        for column, photo in zip(columns, group.photos[:COLUMNS], strict=False):
            with column:
                name = shown_path(os.path.basename(photo.path))
                tag = img_tag(service.thumbnail(photo.id, THUMBNAIL_SIZE), name)
                st.markdown(f'<div class="thumb-box">{tag}</div>', unsafe_allow_html=True)
                st.caption(f"{name} · {photo.width}×{photo.height}", help=shown_path(photo.path))
                st.button(
                    "Open", key=f"dup-{number}-{photo.id}", on_click=select_photo, args=(photo.id,)
                )
