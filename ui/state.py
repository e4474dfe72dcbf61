"""What the page keeps between reruns: one `LibraryService` per data directory (cached for the
whole server) and the visitor's pending actions (a photo to open, a search to run)."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from searchapp.config import Settings
from searchapp.service import LibraryService

OPEN = "photo_to_open"
RERUN_APP = "rerun_app"
KEPT_WIDGETS = (
    "query",
    "without",
    "filter_tags",
    "filter_folders",
    "filter_dates",
    "auto_cutoff",
    "min_score",
    "sort",
    "map_colour",
    "browse_tag",
)
"""Widgets whose values outlive a visit to another view (Streamlit forgets the value of a
widget that a run does not draw, unless the session state holds it again)."""
LIKE = "like_photo"


@st.cache_resource(show_spinner=False)
def _service(data_dir: str) -> LibraryService:
    return LibraryService(Settings(data_dir=Path(data_dir)))


def library_service() -> LibraryService:
    return _service(str(Settings().data_dir))


def keep_widget_values() -> None:
    for key in KEPT_WIDGETS:
        if key in st.session_state:
            st.session_state[key] = st.session_state[key]


def select_photo(photo_id: int) -> None:
    """Open the photo's detail (the next run that draws it takes it: `take_photo_to_open`)."""
    st.session_state[OPEN] = photo_id


def take_photo_to_open() -> int | None:
    value = st.session_state.pop(OPEN, None)
    return int(value) if value is not None else None


def rerun_app_if_asked() -> None:
    """A click in a fragment (the results grid, the photo dialog) that changes the search needs
    the whole page run again, which a callback cannot ask for itself."""
    if st.session_state.pop(RERUN_APP, False):
        st.rerun(scope="app")


def search_like(photo_id: int) -> None:
    """ "More like this": the photo becomes the query (the text box is cleared, and may be used
    again to combine text with the photo)."""
    st.session_state[RERUN_APP] = True
    st.session_state.pop(OPEN, None)
    st.session_state[LIKE] = photo_id
    st.session_state["query"] = ""
    st.session_state["view"] = "Search"
    st.session_state["pages"] = 1
