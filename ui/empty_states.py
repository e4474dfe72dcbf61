"""What the page says when there is nothing to show yet, and what to do about it."""

from __future__ import annotations

import streamlit as st

LIBRARY_EMPTY = (
    "Nothing is indexed yet. Open **Library**, add a photo folder and press **Rescan**, "
    "or run `searchapp index PATH` in a terminal."
)


def show_library_empty() -> None:
    st.info(LIBRARY_EMPTY)
