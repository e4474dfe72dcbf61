"""Which files are photos: by extension, and, for a file without a known extension, by the first
bytes of its content. Formats this install cannot read (camera RAW without rawpy, the `[raw]`
extra; HEIC without `pillow-heif`; AVIF or JPEG 2000 without Pillow's codec) are recognised and
reported as skipped, with what would read them, rather than silently ignored."""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass

from searchapp.raw_photos import INSTALL_HINT, RAW_EXTENSIONS, rawpy_available

BASE_EXTENSIONS = frozenset(
    {".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".webp", ".gif", ".bmp", ".tif", ".tiff"}
)
PNM_EXTENSIONS = frozenset({".pbm", ".pgm", ".ppm", ".pnm"})
JPEG2000_EXTENSIONS = frozenset({".jp2", ".j2k", ".jpx", ".jpf", ".jpc"})
HEIF_EXTENSIONS = frozenset({".heic", ".heif", ".hif"})
AVIF_EXTENSIONS = frozenset({".avif"})
KNOWN_PHOTO_EXTENSIONS = (
    BASE_EXTENSIONS
    | PNM_EXTENSIONS
    | JPEG2000_EXTENSIONS
    | HEIF_EXTENSIONS
    | AVIF_EXTENSIONS
    | RAW_EXTENSIONS
)
# Files next to photos that are certainly not photos: never opened to look at their content.
NOT_PHOTOS = frozenset(
    {".mp4", ".mov", ".m4v", ".avi", ".mkv", ".mts", ".3gp", ".mp3", ".m4a", ".wav", ".aac"}
    | {".txt", ".md", ".json", ".xml", ".xmp", ".aae", ".thm", ".lrf", ".pdf", ".html", ".csv"}
    | {".zip", ".gz", ".tar", ".7z", ".db", ".ini", ".log", ".py", ".exe", ".dll", ".so", ".iso"}
)
SNIFF_BYTES = 32
ISO_BMFF_BRANDS = {
    b"heic": ".heic",
    b"heix": ".heic",
    b"hevc": ".heic",
    b"heim": ".heic",
    b"heis": ".heic",
    b"mif1": ".heic",
    b"msf1": ".heic",
    b"avif": ".avif",
    b"avis": ".avif",
}


@dataclass(frozen=True)
class Missing:
    """A photo format this install skips, and what would read it."""

    extension: str
    needs: str


def _importable(module: str) -> bool:
    try:
        __import__(module)
    except ImportError:
        return False
    return True


@functools.cache
def readable_extensions() -> frozenset[str]:
    """Every extension this install indexes."""
    from PIL import features

    readable = set(BASE_EXTENSIONS | PNM_EXTENSIONS)
    if features.check("jpg_2000"):
        readable |= JPEG2000_EXTENSIONS
    if _importable("pillow_heif"):
        readable |= HEIF_EXTENSIONS
    if features.check("avif") or _importable("pillow_heif"):
        readable |= AVIF_EXTENSIONS
    if rawpy_available():
        readable |= RAW_EXTENSIONS
    return frozenset(readable)


def missing_for(extension: str) -> Missing | None:
    """Why a photo with this extension is skipped here, or None when it is not."""
    if extension in readable_extensions():
        return None
    if extension in RAW_EXTENSIONS:
        return Missing(extension, INSTALL_HINT)
    if extension in HEIF_EXTENSIONS:
        return Missing(extension, "pip install pillow-heif for HEIC/HEIF")
    if extension in AVIF_EXTENSIONS:
        return Missing(extension, "a Pillow built with AVIF (pip install -U pillow) or pillow-heif")
    if extension in JPEG2000_EXTENSIONS:
        return Missing(extension, "a Pillow built with OpenJPEG (pip install -U pillow)")
    return None


def sniff(head: bytes) -> str | None:
    """The photo format of a file from its first bytes, as the extension it would have."""
    if head.startswith(b"\xff\xd8\xff"):
        return ".jpg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return ".png"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return ".gif"
    if head.startswith(b"RIFF") and head[8:12] == b"WEBP":
        return ".webp"
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return ".tif"
    if head.startswith(b"BM") and len(head) >= 14:
        return ".bmp"
    if head.startswith(b"\x00\x00\x00\x0cjP  \r\n\x87\n") or head.startswith(b"\xff\x4f\xff\x51"):
        return ".jp2"
    if head[4:8] == b"ftyp":
        return ISO_BMFF_BRANDS.get(head[8:12])
    if len(head) >= 3 and head[0:1] == b"P" and head[1:2] in b"123456" and head[2:3].isspace():
        return ".pnm"
    return None


def photo_extension(path: str) -> str | None:
    """The format a file is indexed as (its extension, or for a file without a known one the
    format its content shows), or None when it is not a photo. Only files with an unknown
    extension are opened, and only their first bytes are read."""
    extension = os.path.splitext(path)[1].lower()
    if extension in KNOWN_PHOTO_EXTENSIONS:
        return extension
    if extension in NOT_PHOTOS:
        return None
    try:
        with open(path, "rb") as fh:
            head = fh.read(SNIFF_BYTES)
    except OSError:
        return None
    return sniff(head)
