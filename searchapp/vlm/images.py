"""Photos as a VLM receives them: upright RGB, downscaled to a configurable longest side."""

from __future__ import annotations

import base64
import io
from pathlib import Path

from PIL import Image

from searchapp.errors import InvalidImageError

JPEG_QUALITY = 90


def downscaled(image: Image.Image, side: int) -> Image.Image:
    image = image.convert("RGB")
    if max(image.size) > side:
        image = image.copy()
        image.thumbnail((side, side), Image.Resampling.LANCZOS)
    return image


def read_photo(path: Path, side: int, max_megapixels: float = 180.0) -> Image.Image:
    """Decode a photo (reduced-scale JPEG decode, EXIF orientation) no larger than `side`."""
    from searchapp.decode import DecodeError, decode_image
    from searchapp.raw_photos import is_raw_name

    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InvalidImageError(f"Cannot read {path}: {exc.strerror or exc}") from None
    try:
        decoded = decode_image(data, side, max_megapixels, is_raw_name(str(path)))
    except DecodeError as exc:
        raise InvalidImageError(f"Cannot use {path} as a photo: {exc}") from None
    return downscaled(decoded.image, side)


def jpeg_data_url(image: Image.Image, side: int) -> str:
    """A base64 `data:` URL of a JPEG (servers such as Ollama refuse http image URLs)."""
    buffer = io.BytesIO()
    downscaled(image, side).save(buffer, format="JPEG", quality=JPEG_QUALITY)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")
