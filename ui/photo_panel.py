"""The selected photo: a large preview, its metadata and tags, download, "more like this", its
near-duplicates, and (with a vision-language model configured) its caption and a chat."""

from __future__ import annotations

import os
from collections.abc import Callable

import streamlit as st

from searchapp.errors import SearchAppError
from searchapp.file_names import shown_path
from searchapp.service import LibraryService
from searchapp.service_status import PhotoDetails
from ui.assistant import assistant_section
from ui.images import img_tag
from ui.state import search_like, select_photo

PREVIEW_SIZE = 1024


def _size(n: int) -> str:
    value = float(n)
    for unit in ("bytes", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "bytes" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{n} bytes"


def _reader(service: LibraryService, photo_id: int) -> Callable[[], bytes]:
    return lambda: service.photo_file(photo_id).read_bytes()


def _metadata(details: PhotoDetails) -> None:
    rows = [
        ("Path", shown_path(details.path)),
        ("Size", _size(details.bytes)),
        ("Pixels", f"{details.width} × {details.height}" if details.width else "unknown"),
        ("Taken", details.captured_at or f"unknown (file modified {details.modified})"),
        ("Camera", details.camera or "unknown"),
    ]
    st.markdown("\n".join(f"- **{name}:** `{value}`" for name, value in rows))


def photo_panel(service: LibraryService, photo_id: int) -> None:
    try:
        details = service.photo(photo_id)
        preview = service.thumbnail(photo_id, PREVIEW_SIZE)
    except SearchAppError as exc:
        st.warning(str(exc))
        st.button("Close", key="close_missing", on_click=select_photo, args=(None,))
        return
    name = shown_path(os.path.basename(details.path))
    title, close = st.columns([5, 1], vertical_alignment="center")
    title.markdown(f"**{name}**")
    close.button("✕", key="close", on_click=select_photo, args=(None,), help="Close")
    image = img_tag(preview, name, "preview", "width: 100%; height: auto")
    st.markdown(f'<div class="preview-box">{image}</div>', unsafe_allow_html=True)
    left, right = st.columns(2)
    left.button(
        "More like this", key="panel_like", on_click=search_like, args=(photo_id,), width="stretch"
    )
    right.download_button(
        "Download",
        _reader(service, photo_id),
        file_name=name,
        key="download",
        on_click="ignore",
        width="stretch",
    )
    _metadata(details)
    if details.tags:
        st.markdown("**Tags**")
        st.dataframe(
            [
                {"tag": t.label, "score": round(t.score, 3), "vocabulary": t.vocabulary}
                for t in details.tags
            ],
            hide_index=True,
            width="stretch",
        )
    else:
        st.caption("No tags yet: run a vocabulary in Library (or `searchapp tag`).")
    assistant_section(service, details)
