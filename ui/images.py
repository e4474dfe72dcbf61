"""Thumbnails as `<img>` elements: the cached thumbnail file's bytes inlined as a data URL, so
the browser gets them with the page update, with no re-encoding (st.image would decode every
WebP and encode it again as JPEG on every rerun)."""

from __future__ import annotations

import base64
import functools
import html
from pathlib import Path

from searchapp.thumbnails import media_type_of


@functools.lru_cache(maxsize=4096)
def data_url(path: Path) -> str:
    """A thumbnail's name changes when its photo does, so a path's data URL never goes stale."""
    encoded = base64.b64encode(path.read_bytes()).decode("ascii")
    return f"data:{media_type_of(path)};base64,{encoded}"


def img_tag(path: Path, alt: str, css_class: str = "thumb", style: str = "") -> str:
    styled = f' style="{style}"' if style else ""
    return (
        f'<img class="{css_class}" src="{data_url(path)}" alt="{html.escape(alt, quote=True)}" '
        f'title="{html.escape(alt, quote=True)}"{styled}>'
    )
