"""Device and numeric precision: fp16 on CUDA, bf16 on CPUs with native bf16, else fp32."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import TYPE_CHECKING

from searchapp.errors import SearchAppError

if TYPE_CHECKING:
    import torch

    from searchapp.config import Device, Precision

NATIVE_BF16_CPU_FLAGS = ("avx512_bf16", "amx_bf16")


@functools.cache
def cpu_has_native_bf16() -> bool:
    try:
        cpuinfo = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    flags = set()
    for line in cpuinfo.splitlines():
        if line.startswith("flags"):
            flags.update(line.split(":", 1)[1].split())
            break
    return any(flag in flags for flag in NATIVE_BF16_CPU_FLAGS)


def choose_device(requested: Device) -> str:
    import torch

    if requested == "cuda":
        if not torch.cuda.is_available():
            raise SearchAppError(
                "CUDA was requested (SEARCHAPP_DEVICE=cuda) but no CUDA GPU is visible; "
                "use --device cpu or auto."
            )
        return "cuda"
    if requested == "auto" and torch.cuda.is_available():
        return "cuda"
    return "cpu"


def choose_precision(device: str, requested: Precision) -> str:
    if requested != "auto":
        if requested == "fp16" and device == "cpu":
            raise SearchAppError("fp16 is only supported on CUDA; on CPU use bf16 or fp32.")
        return requested
    if device == "cuda":
        return "fp16"
    return "bf16" if cpu_has_native_bf16() else "fp32"


def torch_dtype(precision: str) -> torch.dtype:
    import torch

    return {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[precision]
