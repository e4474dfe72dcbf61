"""Synthetic photos for tests: deterministic, distinct, in every format the indexer meets."""

from __future__ import annotations

import random
from pathlib import Path

from PIL import Image, ImageDraw

SHAPES = ("ellipse", "rectangle", "triangle")


def draw_photo(seed: int, size: tuple[int, int] = (96, 72)) -> Image.Image:
    rng = random.Random(seed)
    width, height = size
    background = tuple(rng.randrange(256) for _ in range(3))
    image = Image.new("RGB", size, background)
    draw = ImageDraw.Draw(image)
    for _ in range(3):
        colour = tuple(rng.randrange(256) for _ in range(3))
        x0, y0 = rng.randrange(width // 2), rng.randrange(height // 2)
        x1, y1 = (
            x0 + rng.randrange(width // 4, width // 2),
            y0 + rng.randrange(height // 4, height // 2),
        )
        shape = rng.choice(SHAPES)
        if shape == "ellipse":
            draw.ellipse((x0, y0, x1, y1), fill=colour)
        elif shape == "rectangle":
            draw.rectangle((x0, y0, x1, y1), fill=colour)
        else:
            draw.polygon([(x0, y1), ((x0 + x1) // 2, y0), (x1, y1)], fill=colour)
    return image


def make_photo(
    path: Path,
    seed: int,
    size: tuple[int, int] = (96, 72),
    exif: Image.Exif | None = None,
    **save_options: object,
) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    image = draw_photo(seed, size)
    if exif is not None:
        save_options["exif"] = exif
    image.save(path, **save_options)
    return path
