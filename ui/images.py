"""Thumbnails and previews as URLs the browser fetches and caches: the cached thumbnail file's
bytes handed to Streamlit's media file server as they are (no re-encoding, as st.image would do,
and no base64 data URL re-sent with every rerun). The URL is a digest of the bytes, so the
browser's cache serves an image it has seen, whatever rerun shows it again."""

from __future__ import annotations

import functools
import html
from pathlib import Path

from streamlit import runtime

from searchapp.thumbnails import media_type_of


@functools.lru_cache(maxsize=4096)
def _file_bytes(path: Path) -> bytes:
    """A thumbnail's name changes when its photo does, so a path's bytes never go stale."""
    return path.read_bytes()


def media_url(path: Path) -> str:
    """The URL of a thumbnail file, served by Streamlit for this session (a file that no element
    of a later run refers to any more is dropped by Streamlit after that run)."""
    return str(
        runtime.get_instance().media_file_mgr.add(
            _file_bytes(path), media_type_of(path), f"searchapp:{path.name}"
        )
    )


def img_tag(path: Path, alt: str, css_class: str = "thumb", style: str = "") -> str:
    styled = f' style="{style}"' if style else ""
    return (
        f'<img class="{css_class}" src="{media_url(path)}" alt="{html.escape(alt, quote=True)}" '
        f'title="{html.escape(alt, quote=True)}"{styled}>'
    )
