"""Decode one image file into an upright RGB picture and its metadata, or say why not.

JPEGs are decoded at reduced scale (libjpeg DCT scaling through Pillow's draft mode) when the model
input is far smaller than the photo (to at least twice the input by default, see
`image_input.draft_size`); EXIF orientation is applied after that.
"""

from __future__ import annotations

import functools
import io
import struct
import warnings
from dataclasses import dataclass
from datetime import datetime

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from searchapp.store.records import ImageMeta

EXIF_ORIENTATION = 0x0112
EXIF_MAKE = 0x010F
EXIF_MODEL = 0x0110
EXIF_DATETIME = 0x0132
EXIF_IFD = 0x8769
EXIF_DATETIME_ORIGINAL = 0x9003
TRANSPOSED_ORIENTATIONS = frozenset({5, 6, 7, 8})

# Our own megapixel limit is checked before Pillow's, so Pillow's bomb guard only backs it up.
Image.MAX_IMAGE_PIXELS = None


class DecodeError(Exception):
    """The file is not a usable image; `str()` is the reason stored in the library."""


@dataclass(frozen=True)
class Decoded:
    image: Image.Image
    meta: ImageMeta


def _exif_text(value: object) -> str | None:
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if not isinstance(value, str):
        return None
    text = value.strip("\x00 ").strip()
    return text or None


def capture_time(exif: Image.Exif) -> str | None:
    raw = _exif_text(exif.get_ifd(EXIF_IFD).get(EXIF_DATETIME_ORIGINAL)) or _exif_text(
        exif.get(EXIF_DATETIME)
    )
    if raw is None:
        return None
    try:
        return datetime.strptime(raw[:19], "%Y:%m:%d %H:%M:%S").isoformat()
    except ValueError:
        return None


def camera_of(exif: Image.Exif) -> str | None:
    make = _exif_text(exif.get(EXIF_MAKE))
    model = _exif_text(exif.get(EXIF_MODEL))
    if make and model and model.lower().startswith(make.lower()):
        return model
    return " ".join(part for part in (make, model) if part) or None


def _to_rgb(image: Image.Image) -> Image.Image:
    """RGB for any mode: 16-bit and float scaled to 8-bit, transparency onto white."""
    if image.mode == "RGB":
        return image
    if image.mode in {"I;16", "I;16B", "I;16L", "I;16N", "I", "F"}:
        pixels = np.asarray(image, dtype=np.float64)
        top = 65535.0 if image.mode.startswith("I;16") or pixels.max(initial=0) > 255 else 255.0
        grey = np.clip(pixels / top * 255.0, 0, 255).astype(np.uint8)
        return Image.fromarray(grey, mode="L").convert("RGB")
    if image.mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    if image.mode in {"RGBA", "LA", "PA", "RGBa", "La"}:
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")


@functools.cache
def register_optional_formats() -> None:
    """HEIC/HEIF through pillow-heif, when it is installed."""
    try:
        import pillow_heif
    except ImportError:
        return
    pillow_heif.register_heif_opener()


@dataclass(frozen=True)
class Header:
    """An image opened but not yet decoded: its metadata is known, its pixels are not."""

    image: Image.Image
    meta: ImageMeta


def read_header(data: bytes, max_megapixels: float) -> Header:
    """Open `data` lazily: format, size and EXIF, with the empty, non-image and bomb checks."""
    register_optional_formats()
    if not data:
        raise DecodeError("empty file (0 bytes)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            image = Image.open(io.BytesIO(data))
    except UnidentifiedImageError:
        raise DecodeError("not an image, or a format this build cannot read") from None
    except (OSError, ValueError, SyntaxError) as exc:
        raise DecodeError(f"unreadable image header: {exc}") from None
    width, height = image.size
    megapixels = width * height / 1e6
    if megapixels > max_megapixels:
        raise DecodeError(
            f"refused: {width}x{height} ({megapixels:.0f} MP) exceeds the {max_megapixels:.0f} MP "
            "limit that guards against decompression bombs (SEARCHAPP_MAX_IMAGE_MEGAPIXELS)"
        )
    try:
        exif = image.getexif()
    except (OSError, ValueError, SyntaxError, EOFError, struct.error) as exc:
        raise DecodeError(f"corrupt image metadata: {exc}") from None
    orientation = exif.get(EXIF_ORIENTATION)
    transposed = orientation in TRANSPOSED_ORIENTATIONS
    meta = ImageMeta(
        width=height if transposed else width,
        height=width if transposed else height,
        captured_at=capture_time(exif),
        camera=camera_of(exif),
        orientation=orientation if isinstance(orientation, int) else None,
    )
    return Header(image, meta)


def decode_image(
    data: bytes, draft_size: int | None, max_megapixels: float, raw: bool = False
) -> Decoded:
    """Decode `data`; a JPEG at the smallest DCT scale whose shortest side is still at least
    `draft_size` (None: always full decode); `raw`: the file is a camera RAW by its name
    (developed through rawpy, `searchapp.raw_photos`)."""
    if raw:
        from searchapp.raw_photos import decode_raw

        return decode_raw(data, draft_size, max_megapixels)
    header = read_header(data, max_megapixels)
    image = header.image
    try:
        if draft_size and image.format == "JPEG" and image.mode in {"RGB", "L"}:
            image.draft(image.mode, (draft_size, draft_size))
        image.load()
        upright = ImageOps.exif_transpose(image) or image
        return Decoded(_to_rgb(upright), header.meta)
    except (OSError, ValueError, SyntaxError, EOFError, struct.error) as exc:
        raise DecodeError(f"corrupt or truncated image: {exc}") from None
