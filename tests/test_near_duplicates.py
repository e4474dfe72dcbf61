"""`searchapp duplicates`: resized, recompressed and slightly cropped copies of a photo-like
picture are grouped with their original, best quality (largest resolution) first; distinct
pictures are not grouped, even when the model finds them alike."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image

from tests.conftest import CliRunner, TinyModel
from tests.photos import draw_photo

SIZE = (1200, 900)


def _textured(seed: int) -> Image.Image:
    """A drawn scene blown up to camera-like size with sensor-like noise (texture)."""
    rng = np.random.default_rng(seed)
    big = np.asarray(draw_photo(seed, (300, 225)).resize(SIZE, Image.Resampling.BICUBIC))
    noisy = np.clip(big.astype(np.int16) + rng.normal(0, 6, big.shape), 0, 255)
    return Image.fromarray(noisy.astype(np.uint8))


def _library(root: Path) -> dict[str, Path]:
    root.mkdir(parents=True)
    original = _textured(1)
    width, height = SIZE
    crop = (width * 3 // 100, height * 3 // 100, width * 97 // 100, height * 97 // 100)
    photos = {
        "original": root / "original.jpg",
        "resized": root / "copies" / "resized.jpg",
        "recompressed": root / "copies" / "recompressed.jpg",
        "cropped": root / "copies" / "cropped.jpg",
    }
    photos["resized"].parent.mkdir()
    original.save(photos["original"], quality=92)
    original.resize((600, 450), Image.Resampling.LANCZOS).save(photos["resized"], quality=90)
    original.save(photos["recompressed"], quality=40)
    original.crop(crop).save(photos["cropped"], quality=90)
    for seed in range(2, 8):
        photos[f"distinct_{seed}"] = root / f"distinct_{seed}.jpg"
        _textured(seed).save(photos[f"distinct_{seed}"], quality=90)
    return photos


def test_copies_are_grouped_with_their_original_best_first_and_distinct_photos_are_not(
    cli: CliRunner, tiny_model: TinyModel, tmp_path: Path
) -> None:
    photos = _library(tmp_path / "photos")
    cli("index", str(tmp_path / "photos"), *tiny_model.flags, "--no-tag")

    groups = json.loads(cli("duplicates", "--json").stdout)
    loose = json.loads(cli("duplicates", "--json", "--threshold", "0.05").stdout)

    copies = {str(photos[name]) for name in ("original", "resized", "recompressed", "cropped")}
    assert [{p["path"] for p in group["photos"]} for group in groups] == [copies]
    assert groups[0]["best"] == str(photos["original"])
    assert groups[0]["photos"][0]["width"] == SIZE[0]
    # with almost every pair a candidate, the perceptual hash still keeps distinct photos apart
    assert [{p["path"] for p in group["photos"]} for group in loose] == [copies]


def test_identical_files_are_one_group_and_the_human_output_names_the_best(
    cli: CliRunner, tiny_model: TinyModel, tmp_path: Path
) -> None:
    root = tmp_path / "photos"
    root.mkdir()
    _textured(9).save(root / "a.jpg", quality=90)
    (root / "b.jpg").write_bytes((root / "a.jpg").read_bytes())
    _textured(10).save(root / "other.jpg", quality=90)
    cli("index", str(root), *tiny_model.flags, "--no-tag")

    out = cli("duplicates").stdout

    assert "group 1 (2 photos" in out and str(root / "a.jpg") in out
    assert "other.jpg" not in out
