"""JPEG decoding on the model's device (nvJPEG through torchvision), batched, for CUDA.

On a GPU, decoding 12 MP JPEGs on the CPU starves the model; torchvision decodes a whole batch on
the GPU instead. EXIF orientation, the resize of the shortest side, the centre crop and the
normalisation then run as tensor operations, mirroring open_clip's own preprocessing. The same
code runs on the CPU device, which is how the tests check it on machines without a GPU.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

NVIDIA_DRIVER = Path("/proc/driver/nvidia/version")
JPEG_MAGIC = b"\xff\xd8\xff"


@dataclass(frozen=True)
class TensorPreprocess:
    """open_clip's default eval transform as numbers: shortest side → size, centre crop."""

    size: int
    mean: tuple[float, ...]
    std: tuple[float, ...]


def nvidia_gpu_possible() -> bool:
    """Whether an NVIDIA driver is loaded, known without importing torch."""
    return NVIDIA_DRIVER.exists()


def is_jpeg(data: bytes) -> bool:
    return data[:3] == JPEG_MAGIC


def _upright(image: torch.Tensor, orientation: int | None) -> torch.Tensor:
    """Apply an EXIF orientation to a (3, H, W) tensor, as PIL's exif_transpose does."""
    import torch

    if orientation == 2:
        return image.flip(-1)
    if orientation == 3:
        return image.flip(-1, -2)
    if orientation == 4:
        return image.flip(-2)
    if orientation == 5:
        return image.transpose(-1, -2)
    if orientation == 6:
        return torch.rot90(image, k=-1, dims=(-2, -1))
    if orientation == 7:
        return image.transpose(-1, -2).flip(-1, -2)
    if orientation == 8:
        return torch.rot90(image, k=1, dims=(-2, -1))
    return image


def _resize_crop(image: torch.Tensor, size: int) -> torch.Tensor:
    import torch

    height, width = image.shape[-2:]
    scale = size / min(height, width)
    new_h, new_w = max(size, round(height * scale)), max(size, round(width * scale))
    resized = torch.nn.functional.interpolate(
        image.unsqueeze(0).float(),
        size=(new_h, new_w),
        mode="bicubic",
        antialias=True,
        align_corners=False,
    )[0]
    top, left = (new_h - size) // 2, (new_w - size) // 2
    return resized[:, top : top + size, left : left + size]


def decode_jpegs(
    datas: Sequence[bytes],
    orientations: Sequence[int | None],
    device: str,
    preprocess: TensorPreprocess,
) -> torch.Tensor:
    """Decode a batch of JPEGs on `device` into normalised model input, (n, 3, size, size)."""
    import torch
    from torchvision.io import ImageReadMode, decode_jpeg

    encoded = [torch.frombuffer(bytearray(data), dtype=torch.uint8) for data in datas]
    decoded = decode_jpeg(encoded, mode=ImageReadMode.RGB, device=device)
    mean = torch.tensor(preprocess.mean, device=device).view(3, 1, 1)
    std = torch.tensor(preprocess.std, device=device).view(3, 1, 1)
    batch = [
        (_resize_crop(_upright(image, orientation), preprocess.size).clamp(0, 255) / 255 - mean)
        / std
        for image, orientation in zip(decoded, orientations, strict=True)
    ]
    return torch.stack(batch)
