"""Perceptual hashes (imagehash's DCT pHash, 64 bits, as hex): computed once at indexing time from
the picture already decoded for the model, stored per image, and compared by Hamming distance to
confirm that two photos close in embedding space are the same shot (resized, recompressed,
slightly cropped), not two photos of the same scene."""

from __future__ import annotations

import logging

from PIL import Image

log = logging.getLogger(__name__)
HASH_BITS = 64


def perceptual_hash(image: Image.Image) -> str | None:
    """The pHash of a decoded picture; None when it cannot be computed (never fails a file)."""
    try:
        import imagehash

        return str(imagehash.phash(image))
    except Exception:
        log.warning("could not compute a perceptual hash", exc_info=True)
        return None


def hamming(a: str, b: str) -> int:
    """Bits that differ between two hex hashes of equal length."""
    return (int(a, 16) ^ int(b, 16)).bit_count()
