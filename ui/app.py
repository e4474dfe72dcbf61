"""The searchapp page: `streamlit run ui/app.py` (the data directory from SEARCHAPP_DATA_DIR).
An opened photo shows in a dialog over the page (`ui.photo_panel`)."""

from __future__ import annotations

import streamlit as st

from ui.collection_page import collection_page
from ui.library_page import library_page
from ui.photo_panel import open_photo_if_asked
from ui.search_page import search_page
from ui.state import RERUN_APP, keep_widget_values, library_service

STYLE = """<style>
.thumb-box { aspect-ratio: 1 / 1; display: flex; align-items: center; justify-content: center;
  background: rgba(128, 128, 128, 0.08); border-radius: 6px; overflow: hidden; }
.thumb-box img.thumb { width: 100%; height: 100%; object-fit: contain; }
.preview-box { display: flex; justify-content: center; background: rgba(128, 128, 128, 0.08);
  border-radius: 6px; }
.preview-box img.preview { width: 100%; max-height: 75vh; object-fit: contain;
  border-radius: 6px; }
</style>"""
VIEWS = {"Search": search_page, "Collection": collection_page, "Library": library_page}


def main() -> None:
    st.set_page_config(page_title="searchapp", page_icon="🔎", layout="wide")
    st.markdown(STYLE, unsafe_allow_html=True)
    keep_widget_values()
    st.session_state.pop(RERUN_APP, None)  # this run is the whole page already
    service = library_service()
    view = st.radio("View", list(VIEWS), horizontal=True, key="view", label_visibility="collapsed")
    VIEWS[view](service)
    open_photo_if_asked(service)


main()
