"""Images given to a search or a classification, and the one decode → preprocess → encode step
the indexer uses too (`decode_for_model`, `embed_image`)."""

from __future__ import annotations

import math
import os
import stat
from pathlib import Path
from typing import TYPE_CHECKING

from searchapp.config import Settings
from searchapp.decode import Decoded, DecodeError, decode_image
from searchapp.errors import InvalidImageError
from searchapp.raw_photos import is_raw_name

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

    from searchapp.models.base import ImageEncoder


def draft_size(settings: Settings, input_size: int | None) -> int | None:
    """The shortest side a JPEG may be decoded down to (None: full decode): the model's input
    times `jpeg_draft_scale`, so the final resize still has that many source pixels per output
    pixel to average (decoding right at the input size changes rankings, README)."""
    if not settings.fast_jpeg_decode or not input_size:
        return None
    return math.ceil(input_size * settings.jpeg_draft_scale)


def decode_for_model(
    data: bytes, settings: Settings, input_size: int | None, name: str = ""
) -> Decoded:
    """Bytes → upright RGB picture and metadata, at reduced scale when the model allows it
    (`name`: the file's, which says whether it is a camera RAW)."""
    return decode_image(
        data,
        draft_size(settings, input_size),
        settings.max_image_megapixels,
        raw=is_raw_name(name),
    )


def embed_image(
    embedder: ImageEncoder, data: bytes, settings: Settings, name: str
) -> NDArray[np.float32]:
    """One picture's unit vector; `name` says which picture in the error message."""
    try:
        decoded = decode_for_model(data, settings, embedder.input_size, name)
    except DecodeError as exc:
        raise InvalidImageError(f"Cannot use {name} as a query image: {exc}") from None
    vector: NDArray[np.float32] = embedder.encode_images([embedder.preprocess(decoded.image)])[0]
    return vector


def read_query_image(path: Path, settings: Settings) -> tuple[os.stat_result, bytes]:
    """A query image's stat and bytes: a regular file under the file-size limit, or one line
    saying why not (a FIFO or a device is never opened)."""
    try:
        st = os.stat(path)
    except OSError as exc:
        raise InvalidImageError(f"Cannot read {path}: {exc.strerror or exc}") from None
    if not stat.S_ISREG(st.st_mode):
        raise InvalidImageError(f"{path} is not a regular file; give an image file.")
    limit = settings.max_file_megabytes
    if st.st_size > limit * 1e6:
        raise InvalidImageError(
            f"{path} is {st.st_size / 1e6:.0f} MB, over the {limit:.0f} MB limit for one image "
            "(SEARCHAPP_MAX_FILE_MEGABYTES)."
        )
    try:
        with open(path, "rb") as fh:
            data = fh.read(int(limit * 1e6) + 1)
    except OSError as exc:
        raise InvalidImageError(f"Cannot read {path}: {exc.strerror or exc}") from None
    return st, data
