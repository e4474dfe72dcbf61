"""open_clip's default image preprocessing in PIL and NumPy, without torch or torchvision.

Resize the shortest side (PIL, the interpolation the model was trained with), centre crop, scale
to [0, 1], normalise: the same steps, in the same order and rounding, as torchvision's `Resize`,
`CenterCrop`, `ToTensor` and `Normalize` applied to a PIL image. The exporter checks the output
against the model's own transform before an export may use it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray
from PIL import Image

INTERPOLATIONS = {
    "bicubic": Image.Resampling.BICUBIC,
    "bilinear": Image.Resampling.BILINEAR,
    "nearest": Image.Resampling.NEAREST,
    "lanczos": Image.Resampling.LANCZOS,
}


@dataclass(frozen=True)
class ImagePreprocess:
    size: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    interpolation: str = "bicubic"

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ImagePreprocess:
        mean = tuple(float(m) for m in data["mean"])
        std = tuple(float(s) for s in data["std"])
        assert len(mean) == 3 and len(std) == 3
        return cls(int(data["size"]), mean, std, str(data["interpolation"]))

    def as_dict(self) -> dict[str, Any]:
        return {
            "size": self.size,
            "mean": list(self.mean),
            "std": list(self.std),
            "interpolation": self.interpolation,
        }

    def __call__(self, image: Image.Image) -> NDArray[np.float32]:
        width, height = image.size
        short, long = (width, height) if width <= height else (height, width)
        if short != self.size:
            new_long = int(self.size * long / short)
            new_size = (self.size, new_long) if width <= height else (new_long, self.size)
            image = image.resize(new_size, INTERPOLATIONS[self.interpolation])
        width, height = image.size
        top = round((height - self.size) / 2.0)
        left = round((width - self.size) / 2.0)
        image = image.crop((left, top, left + self.size, top + self.size)).convert("RGB")
        pixels = np.asarray(image, dtype=np.float32) / np.float32(255.0)
        mean = np.asarray(self.mean, dtype=np.float32)
        std = np.asarray(self.std, dtype=np.float32)
        normalised = (pixels - mean) / std
        return np.ascontiguousarray(normalised.transpose(2, 0, 1), dtype=np.float32)
