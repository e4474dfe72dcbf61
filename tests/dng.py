"""A real, minimal DNG written here (rawpy and LibRaw read, never write): one uncompressed 16-bit
RGGB Bayer plane in IFD0 with the DNG tags LibRaw needs (DNGVersion, CFA pattern, colour matrix,
white level), plus Make, Model, DateTime and Orientation. The mosaic is a synthetic photo
(`tests.photos.draw_photo`) sampled through the Bayer filter, so the developed picture shows it."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

from tests.photos import draw_photo

BYTE, ASCII, SHORT, LONG, RATIONAL, SRATIONAL = 1, 2, 3, 4, 5, 10
_SIZES = {BYTE: 1, ASCII: 1, SHORT: 2, LONG: 4, RATIONAL: 8, SRATIONAL: 8}
WHITE_LEVEL = 4095


def _bayer(seed: int, width: int, height: int) -> bytes:
    rgb = np.asarray(draw_photo(seed, (width, height)), dtype=np.uint16) * 16  # 12-bit
    mosaic = np.empty((height, width), dtype="<u2")
    mosaic[0::2, 0::2] = rgb[0::2, 0::2, 0]  # R
    mosaic[0::2, 1::2] = rgb[0::2, 1::2, 1]  # G
    mosaic[1::2, 0::2] = rgb[1::2, 0::2, 1]  # G
    mosaic[1::2, 1::2] = rgb[1::2, 1::2, 2]  # B
    return mosaic.tobytes()


def _value(kind: int, values: object) -> bytes:
    if kind in (ASCII, BYTE):
        return bytes(values)  # type: ignore[arg-type]
    if kind == SHORT:
        return struct.pack(f"<{len(values)}H", *values)  # type: ignore[arg-type]
    if kind == LONG:
        return struct.pack(f"<{len(values)}I", *values)  # type: ignore[arg-type]
    fmt = "<II" if kind == RATIONAL else "<ii"
    return b"".join(struct.pack(fmt, a, b) for a, b in values)  # type: ignore[attr-defined]


def dng_bytes(
    seed: int,
    width: int = 96,
    height: int = 72,
    orientation: int = 1,
    taken: str = "2021:07:04 10:30:00",
    make: str = "Testcam",
    model: str = "Testcam One",
) -> bytes:
    pixels = _bayer(seed, width, height)
    identity = [(1, 1), (0, 1), (0, 1), (0, 1), (1, 1), (0, 1), (0, 1), (0, 1), (1, 1)]
    entries: list[tuple[int, int, object]] = [
        (254, LONG, [0]),  # NewSubFileType: the main image
        (256, LONG, [width]),
        (257, LONG, [height]),
        (258, SHORT, [16]),
        (259, SHORT, [1]),  # uncompressed
        (262, SHORT, [32803]),  # CFA
        (271, ASCII, make.encode() + b"\0"),
        (272, ASCII, model.encode() + b"\0"),
        (273, LONG, [0]),  # StripOffsets: set below
        (274, SHORT, [orientation]),
        (277, SHORT, [1]),
        (278, LONG, [height]),
        (279, LONG, [len(pixels)]),
        (284, SHORT, [1]),
        (306, ASCII, taken.encode() + b"\0"),
        (33421, SHORT, [2, 2]),  # CFARepeatPatternDim
        (33422, BYTE, [0, 1, 1, 2]),  # CFAPattern: RGGB
        (50706, BYTE, [1, 4, 0, 0]),  # DNGVersion
        (50707, BYTE, [1, 1, 0, 0]),  # DNGBackwardVersion
        (50708, ASCII, model.encode() + b"\0"),  # UniqueCameraModel
        (50714, LONG, [0]),  # BlackLevel
        (50717, LONG, [WHITE_LEVEL]),  # WhiteLevel
        (50721, SRATIONAL, identity),  # ColorMatrix1
        (50728, RATIONAL, [(1, 1), (1, 1), (1, 1)]),  # AsShotNeutral
        (50778, SHORT, [21]),  # CalibrationIlluminant1: D65
    ]
    blobs = [_value(kind, values) for _, kind, values in entries]
    ifd_size = 2 + 12 * len(entries) + 4
    extra_start = 8 + ifd_size
    pixel_offset = extra_start + sum(len(b) + len(b) % 2 for b in blobs if len(b) > 4)
    ifd = bytearray(struct.pack("<H", len(entries)))
    extra = bytearray()
    for (tag, kind, _), blob in zip(entries, blobs, strict=True):
        if tag == 273:
            blob = struct.pack("<I", pixel_offset)
        count = len(blob) // _SIZES[kind]
        if len(blob) <= 4:
            ifd += struct.pack("<HHI", tag, kind, count) + blob.ljust(4, b"\0")
        else:
            ifd += struct.pack("<HHII", tag, kind, count, extra_start + len(extra))
            extra += blob + b"\0" * (len(blob) % 2)
    ifd += struct.pack("<I", 0)
    return b"II*\x00" + struct.pack("<I", 8) + bytes(ifd) + bytes(extra) + pixels


def write_dng(path: Path, seed: int, **options: object) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(dng_bytes(seed, **options))  # type: ignore[arg-type]
    return path
