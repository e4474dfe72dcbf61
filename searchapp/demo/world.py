"""The demo's synthetic world: one object per picture, with a shape, a colour, a size and a
background, drawn with Pillow and described by a caption.

Everything is deterministic given a seed. Training draws fresh pictures from seeds of its own
(`TRAIN_SEED` onwards); the demo library and the tests' held-out queries use other seeds, so
the model is always judged on pictures it has never seen.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageDraw

SHAPES: tuple[str, ...] = ("circle", "square", "triangle", "star", "cross")
COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (220, 35, 35),
    "green": (35, 170, 60),
    "blue": (40, 80, 230),
    "yellow": (240, 215, 30),
    "purple": (150, 55, 200),
    "orange": (250, 135, 15),
}
SIZES: dict[str, tuple[float, float]] = {"small": (0.50, 0.60), "large": (0.78, 0.92)}
BACKGROUNDS: dict[str, tuple[int, int, int]] = {
    "white": (245, 245, 242),
    "gray": (128, 128, 128),
    "black": (22, 22, 26),
}
PICTURE_PIXELS = 64
COLOUR_JITTER = 14

LIBRARY_SEED = 1_000_000
HELD_OUT_SEED = 2_000_000
TRAIN_SEED = 10_000_000

# Caption grammar: an optional prefix, a noun phrase naming the shape and perhaps its size and
# colour, and perhaps the background. The prefixes cover the usual zero-shot prompt templates.
PREFIXES = (
    "", "", "", "a photo of ", "a photo of ", "a picture of ", "an image of ",
    "a close-up photo of ", "a good photo of ", "a bright photo of ", "a cropped photo of ",
)  # fmt: skip
P_ARTICLE = 0.85
P_COLOUR = 0.8
P_SIZE = 0.2
P_BACKGROUND = 0.15


@dataclass(frozen=True)
class Scene:
    """What a picture shows."""

    shape: str
    colour: str
    size: str
    background: str

    @property
    def caption(self) -> str:
        """The full, canonical description."""
        return f"a {self.size} {self.colour} {self.shape} on a {self.background} background"


def world_fingerprint() -> str:
    """Changes whenever the world (and so a model trained on it) would change."""
    description = {
        "shapes": SHAPES,
        "colours": COLOURS,
        "sizes": SIZES,
        "backgrounds": BACKGROUNDS,
        "pixels": PICTURE_PIXELS,
        "jitter": COLOUR_JITTER,
        "prefixes": PREFIXES,
        "p": (P_COLOUR, P_SIZE, P_BACKGROUND, P_ARTICLE),
        "version": 2,
    }
    return hashlib.sha256(json.dumps(description, sort_keys=True).encode()).hexdigest()[:16]


def _with_article(phrase: str) -> str:
    return ("an " if phrase[0] in "aeiou" else "a ") + phrase


def random_caption(scene: Scene, rng: random.Random) -> str:
    """One of many ways to describe `scene`; always names the shape."""
    words = []
    if rng.random() < P_SIZE:
        words.append(scene.size)
    if rng.random() < P_COLOUR:
        words.append(scene.colour)
    words.append(scene.shape)
    phrase = " ".join(words)
    if rng.random() < P_ARTICLE:
        phrase = _with_article(phrase)
    text = rng.choice(PREFIXES) + phrase
    if rng.random() < P_BACKGROUND:
        text += f" on a {scene.background} background"
    if rng.random() < 0.3:
        text += "."
    return text


def random_scene(rng: random.Random) -> Scene:
    return Scene(
        rng.choice(SHAPES), rng.choice(list(COLOURS)), rng.choice(list(SIZES)),
        rng.choice(list(BACKGROUNDS)),
    )  # fmt: skip


def _jittered(rgb: tuple[int, int, int], rng: random.Random, amount: int) -> tuple[int, int, int]:
    r, g, b = (min(255, max(0, c + rng.randint(-amount, amount))) for c in rgb)
    return r, g, b


def _outline(shape: str, radius: float) -> list[tuple[float, float]]:
    """The shape's polygon around (0, 0)."""
    if shape == "circle":
        return [
            (radius * math.cos(2 * math.pi * k / 48), radius * math.sin(2 * math.pi * k / 48))
            for k in range(48)
        ]
    if shape == "square":
        side = radius * 0.86
        return [(-side, -side), (side, -side), (side, side), (-side, side)]
    if shape == "triangle":
        return [
            (radius * math.cos(math.radians(a)), radius * math.sin(math.radians(a)))
            for a in (-90, 30, 150)
        ]
    if shape == "star":
        return [
            (
                (radius if k % 2 == 0 else radius * 0.42) * math.cos(math.radians(-90 + 36 * k)),
                (radius if k % 2 == 0 else radius * 0.42) * math.sin(math.radians(-90 + 36 * k)),
            )
            for k in range(10)
        ]
    if shape == "cross":
        arm, half = radius * 0.9, radius * 0.3
        return [
            (-half, -arm), (half, -arm), (half, -half), (arm, -half), (arm, half), (half, half),
            (half, arm), (-half, arm), (-half, half), (-arm, half), (-arm, -half), (-half, -half),
        ]  # fmt: skip
    raise ValueError(f"unknown shape {shape!r}")


def render(scene: Scene, rng: random.Random, pixels: int = PICTURE_PIXELS) -> Image.Image:
    """Draw `scene` upright, at a random place and scale within its size, in slightly jittered
    colours."""
    image = Image.new("RGB", (pixels, pixels), _jittered(BACKGROUNDS[scene.background], rng, 6))
    low, high = SIZES[scene.size]
    radius = rng.uniform(low, high) * pixels / 2
    margin = pixels / 2 - radius
    cx = pixels / 2 + rng.uniform(-margin, margin) * 0.8
    cy = pixels / 2 + rng.uniform(-margin, margin) * 0.8
    points = [(cx + x, cy + y) for x, y in _outline(scene.shape, radius)]
    ImageDraw.Draw(image).polygon(points, fill=_jittered(COLOURS[scene.colour], rng, COLOUR_JITTER))
    return image


def training_examples(step: int, batch_size: int) -> Iterator[tuple[Image.Image, str]]:
    """Fresh pictures for one training step, each with a random caption."""
    rng = random.Random(TRAIN_SEED + step)
    for _ in range(batch_size):
        scene = random_scene(rng)
        yield render(scene, rng), random_caption(scene, rng)


@dataclass(frozen=True)
class Picture:
    path: Path
    scene: Scene


def balanced_scenes(per_combination: int, seed: int) -> list[tuple[Scene, random.Random]]:
    """`per_combination` scenes of every (shape, colour), sizes and backgrounds at random."""
    rng = random.Random(seed)
    scenes = []
    for shape in SHAPES:
        for colour in COLOURS:
            for _ in range(per_combination):
                size, background = rng.choice(list(SIZES)), rng.choice(list(BACKGROUNDS))
                scene = Scene(shape, colour, size, background)
                scenes.append((scene, random.Random(rng.getrandbits(64))))
    return scenes


def file_name(scene: Scene, number: int) -> str:
    return f"{scene.colour}-{scene.shape}-{scene.size}-{scene.background}-{number:03d}.png"


def write_pictures(folder: Path, per_combination: int, seed: int) -> list[Picture]:
    """Write a balanced set of pictures (PNG) and `captions.tsv`; files already there with the
    same name are kept, so a second run changes nothing on disk."""
    folder.mkdir(parents=True, exist_ok=True)
    pictures = []
    captions = []
    for number, (scene, rng) in enumerate(balanced_scenes(per_combination, seed)):
        path = folder / scene.shape / file_name(scene, number)
        if not path.is_file():
            path.parent.mkdir(exist_ok=True)
            render(scene, rng).save(path)
        pictures.append(Picture(path, scene))
        captions.append(f"{path.relative_to(folder)}\t{scene.caption}\n")
    (folder / "captions.tsv").write_text("".join(captions), encoding="utf-8")
    return pictures


def scene_of(path: Path) -> Scene:
    """The scene a picture written by `write_pictures` shows, read from its file name."""
    colour, shape, size, background, _ = path.stem.split("-")
    return Scene(shape, colour, size, background)
