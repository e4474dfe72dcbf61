"""Brute-force reference embeddings computed directly with open_clip, outside our code."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageOps

from tests.conftest import TinyModel


class ReferenceModel:
    def __init__(self, tiny: TinyModel) -> None:
        import open_clip

        open_clip.add_model_config(tiny.config_path)
        self.model, _, self.preprocess = open_clip.create_model_and_transforms(
            tiny.name, pretrained=str(tiny.checkpoint)
        )
        self.model.eval()
        self.tokenizer = open_clip.get_tokenizer(tiny.name)

    def images(self, paths: Sequence[Path]) -> NDArray[np.float32]:
        import torch

        pixels = []
        for path in paths:
            with Image.open(path) as image:
                pixels.append(self.preprocess(ImageOps.exif_transpose(image).convert("RGB")))
        with torch.inference_mode():
            features = self.model.encode_image(torch.stack(pixels))
        return torch.nn.functional.normalize(features, dim=-1).numpy()

    def texts(self, texts: Sequence[str]) -> NDArray[np.float32]:
        import torch

        with torch.inference_mode():
            features = self.model.encode_text(self.tokenizer(list(texts)))
        return torch.nn.functional.normalize(features, dim=-1).numpy()
