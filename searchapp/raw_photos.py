"""Camera RAW files (ARW, CR2, NEF, DNG, …) through rawpy (LibRaw), the `[raw]` extra.

A RAW is indexed only when no JPEG or HEIC of the same name sits beside it (as rclip does: the
camera's or the user's developed picture stands for it). It is developed with the camera's white
balance, at half size when the model input is far smaller, and turned upright by LibRaw; the
capture time and camera come from its TIFF/EXIF header where it has one (every TIFF-based RAW:
DNG, NEF, CR2, ARW, PEF, …), else the file time stands in for it.
"""

from __future__ import annotations

import functools
import io
import os
from collections.abc import Collection

from PIL import Image

from searchapp.decode import Decoded, DecodeError, camera_of, capture_time
from searchapp.store.records import ImageMeta

RAW_EXTENSIONS = frozenset(
    {".arw", ".cr2", ".cr3", ".nef", ".nrw", ".dng", ".orf", ".rw2", ".raf", ".pef", ".srw"}
)
DEVELOPED_EXTENSIONS = frozenset({".jpg", ".jpeg", ".heic", ".heif"})
INSTALL_HINT = "pip install 'searchapp[raw]' (rawpy) to index camera RAW"
# LibRaw's `flip` (how it turns the picture upright) as the EXIF orientation it stands for.
FLIP_TO_ORIENTATION = {0: 1, 3: 3, 5: 8, 6: 6}


@functools.cache
def rawpy_available() -> bool:
    try:
        import rawpy  # noqa: F401
    except ImportError:
        return False
    return True


def is_raw_name(path: str) -> bool:
    return os.path.splitext(path)[1].lower() in RAW_EXTENSIONS


def developed_stems(names: Collection[str]) -> set[str]:
    """The lower-cased stems of the JPEG/HEIC files among a folder's names."""
    stems = set()
    for name in names:
        stem, extension = os.path.splitext(name)
        if extension.lower() in DEVELOPED_EXTENSIONS:
            stems.add(stem.lower())
    return stems


def has_developed_sibling(path: str, stems: set[str] | None = None) -> bool:
    """Whether a JPEG or HEIC of the same name (any case) sits beside the RAW at `path`;
    `stems` are the folder's `developed_stems` when the caller listed it already."""
    folder, name = os.path.split(path)
    if stems is None:
        try:
            stems = developed_stems(os.listdir(folder or "."))
        except OSError:
            return False
    return os.path.splitext(name)[0].lower() in stems


def _header_meta(data: bytes) -> tuple[str | None, str | None]:
    """Capture time and camera from a TIFF-based RAW's header (IFD0 and its EXIF IFD)."""
    if data[:4] not in (b"II*\x00", b"MM\x00*"):
        return None, None
    exif = Image.Exif()
    try:
        exif.load(data)
        return capture_time(exif), camera_of(exif)
    except Exception:  # a header Pillow cannot walk only costs the metadata
        return None, None


def decode_raw(data: bytes, draft_size: int | None, max_megapixels: float) -> Decoded:
    """Develop a camera RAW into an upright RGB picture with its metadata, or say why not."""
    try:
        import rawpy
    except ImportError:
        raise DecodeError(f"camera RAW needs rawpy: {INSTALL_HINT}") from None
    if not data:
        raise DecodeError("empty file (0 bytes)")
    try:
        with rawpy.imread(io.BytesIO(data)) as raw:
            sizes = raw.sizes
            megapixels = sizes.width * sizes.height / 1e6
            if megapixels > max_megapixels:
                raise DecodeError(
                    f"refused: {sizes.width}x{sizes.height} ({megapixels:.0f} MP) exceeds the "
                    f"{max_megapixels:.0f} MP limit (SEARCHAPP_MAX_IMAGE_MEGAPIXELS)"
                )
            half = draft_size is not None and min(sizes.width, sizes.height) >= 2 * draft_size
            pixels = raw.postprocess(use_camera_wb=True, half_size=half, output_bps=8)
            flip = sizes.flip
    except DecodeError:
        raise
    except (rawpy.LibRawError, OSError, ValueError) as exc:
        raise DecodeError(f"unreadable camera RAW: {exc}") from None
    image = Image.fromarray(pixels).convert("RGB")
    captured_at, camera = _header_meta(data)
    meta = ImageMeta(
        width=image.width,
        height=image.height,
        captured_at=captured_at,
        camera=camera,
        orientation=FLIP_TO_ORIENTATION.get(flip),
    )
    return Decoded(image, meta)
