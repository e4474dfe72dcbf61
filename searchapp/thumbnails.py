"""Thumbnails of indexed photos: made once per photo version and size, upright (EXIF orientation
applied), WebP (JPEG where Pillow lacks WebP), cached on disk under the data directory.

A thumbnail's file name carries a digest of the source file's identity (path, size, mtime, inode)
and the size, so a changed photo gets a new thumbnail and the name serves as an HTTP ETag.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import os
import tempfile
import threading
from pathlib import Path

from PIL import Image, features

from searchapp.decode import DecodeError, decode_image
from searchapp.errors import InvalidImageError, InvalidQueryError
from searchapp.raw_photos import is_raw_name

log = logging.getLogger(__name__)
MIN_SIZE = 16
MAX_SIZE = 2048
DEFAULT_SIZE = 256
MEDIA_TYPES = {".webp": "image/webp", ".jpg": "image/jpeg"}


@functools.cache
def thumbnail_suffix() -> str:
    return ".webp" if features.check("webp") else ".jpg"


def media_type_of(path: Path) -> str:
    return MEDIA_TYPES.get(path.suffix, "application/octet-stream")


def check_size(size: int) -> int:
    if not MIN_SIZE <= size <= MAX_SIZE:
        raise InvalidQueryError(
            f"A thumbnail size must be between {MIN_SIZE} and {MAX_SIZE} pixels, not {size}."
        )
    return size


class ThumbnailCache:
    """Thumbnails in `directory`; when it cannot be written (a read-only library) they go to a
    private temporary folder for the life of the process instead."""

    def __init__(self, directory: Path, max_megapixels: float, max_file_bytes: int) -> None:
        self.directory = directory
        self.max_megapixels = max_megapixels
        self.max_file_bytes = max_file_bytes
        self._lock = threading.Lock()
        self._fallback: tempfile.TemporaryDirectory[str] | None = None

    def close(self) -> None:
        if self._fallback is not None:
            self._fallback.cleanup()
            self._fallback = None

    def _writable_dir(self) -> Path:
        with self._lock:
            if self._fallback is not None:
                return Path(self._fallback.name)
            try:
                self.directory.mkdir(parents=True, exist_ok=True)
                if os.access(self.directory, os.W_OK):
                    return self.directory
            except OSError:
                pass
            log.info("thumbnails go to a temporary folder: %s is not writable", self.directory)
            self._fallback = tempfile.TemporaryDirectory(prefix="searchapp-thumbnails-")
            return Path(self._fallback.name)

    @staticmethod
    def name_of(photo_id: int, source: Path, st: os.stat_result, size: int) -> str:
        identity = f"{source}\0{st.st_size}\0{st.st_mtime_ns}\0{st.st_ino}\0{size}"
        digest = hashlib.sha256(identity.encode("utf-8", "surrogateescape")).hexdigest()[:20]
        return f"{photo_id}-{size}-{digest}{thumbnail_suffix()}"

    def thumbnail(self, photo_id: int, source: Path, size: int) -> Path:
        """The cached thumbnail of `source` (longest side at most `size`), made if missing."""
        check_size(size)
        st = os.stat(source)
        name = self.name_of(photo_id, source, st, size)
        for folder in (self.directory, Path(self._fallback.name) if self._fallback else None):
            if folder is not None and (folder / name).is_file():
                return folder / name
        target = self._writable_dir() / name
        if target.is_file():
            return target
        if st.st_size > self.max_file_bytes:
            raise InvalidImageError(
                f"Photo {photo_id} is {st.st_size / 1e6:.0f} MB, over the limit for one image."
            )
        data = source.read_bytes()
        try:
            image = decode_image(data, size, self.max_megapixels, is_raw_name(str(source))).image
        except DecodeError as exc:
            raise InvalidImageError(f"Cannot make a thumbnail of photo {photo_id}: {exc}") from None
        image.thumbnail((size, size), Image.Resampling.LANCZOS)
        self._write(image, target)
        return target

    @staticmethod
    def _write(image: Image.Image, target: Path) -> None:
        fd, temporary = tempfile.mkstemp(dir=target.parent, prefix=".tmp-", suffix=target.suffix)
        try:
            with os.fdopen(fd, "wb") as fh:
                if target.suffix == ".webp":
                    image.save(fh, format="WEBP", quality=80, method=4)
                else:
                    image.save(fh, format="JPEG", quality=85, optimize=True)
            os.replace(temporary, target)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
