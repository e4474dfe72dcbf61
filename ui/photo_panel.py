"""An opened photo, in a large dialog over the page: the preview filling its width, metadata and
tags, download, "more like this", and (with a vision-language model configured) its caption and
a chat. Opening a photo from the results grid reruns only the grid's fragment and the dialog (not
the search form); the dialog is a fragment too, so chatting reruns only the dialog."""

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
from ui.state import rerun_app_if_asked, search_like, take_photo_to_open

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
    rerun_app_if_asked()
    try:
        details = service.photo(photo_id)
        preview = service.thumbnail(photo_id, PREVIEW_SIZE)
    except SearchAppError as exc:
        st.warning(str(exc))
        return
    name = shown_path(os.path.basename(details.path))
    picture, facts = st.columns([3, 2], gap="medium")
    with picture:
        image = img_tag(preview, name, "preview")
        st.markdown(f'<div class="preview-box">{image}</div>', unsafe_allow_html=True)
    with facts:
        st.markdown(f"**{name}**")
        _facts(service, photo_id, details, name)


photo_dialog = st.dialog("Photo", width="large")(photo_panel)


def open_photo_if_asked(service: LibraryService) -> None:
    """Open the photo a click asked for, in the run (full or fragment) that comes first."""
    photo_id = take_photo_to_open()
    if photo_id is not None:
        photo_dialog(service, photo_id)


def _facts(service: LibraryService, photo_id: int, details: PhotoDetails, name: str) -> None:
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
        rows = "\n".join(f"| {t.label} | {t.score:.3f} | {t.vocabulary} |" for t in details.tags)
        st.markdown(f"**Tags**\n\n| tag | score | vocabulary |\n|---|---:|---|\n{rows}")
    else:
        st.caption("No tags yet: run a vocabulary in Library (or `searchapp tag`).")
    assistant_section(service, details)
