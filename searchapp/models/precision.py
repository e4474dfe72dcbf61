"""Device and numeric precision: fp16 on CUDA, bf16 on CPUs with native bf16, else fp32."""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import TYPE_CHECKING

from searchapp.errors import SearchAppError

if TYPE_CHECKING:
    import torch

    from searchapp.config import Device, EmbeddingPrecision

NATIVE_BF16_CPU_FLAGS = ("avx512_bf16", "amx_bf16")
SPEED_CPU_FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "amx_bf16", "amx_int8")
NVIDIA_DRIVER = Path("/proc/driver/nvidia/version")


@functools.cache
def _cpuinfo() -> tuple[str, frozenset[str]]:
    try:
        cpuinfo = Path("/proc/cpuinfo").read_text()
    except OSError:
        return "unknown", frozenset()
    model, flags = "unknown", set[str]()
    for line in cpuinfo.splitlines():
        if line.startswith("model name") and model == "unknown":
            model = line.split(":", 1)[1].strip()
        elif line.startswith("flags") and not flags:
            flags.update(line.split(":", 1)[1].split())
    return model, frozenset(flags)


def cpu_has_native_bf16() -> bool:
    return any(flag in _cpuinfo()[1] for flag in NATIVE_BF16_CPU_FLAGS)


def cpu_signature() -> str:
    """What decides which runtime is fastest here: CPU model, its vector extensions, cores."""
    model, flags = _cpuinfo()
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    wanted = ",".join(flag for flag in SPEED_CPU_FLAGS if flag in flags)
    return f"{model}|{wanted}|{cores}"


def cuda_possible(requested: Device) -> bool:
    """Whether a CUDA GPU may be used, known without importing torch."""
    return requested == "cuda" or (requested == "auto" and NVIDIA_DRIVER.exists())


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


def choose_precision(device: str, requested: EmbeddingPrecision) -> str:
    if requested != "auto":
        if requested == "int8":
            raise SearchAppError(
                "int8 runs on ONNX Runtime: use --runtime onnx (or auto) with --precision int8."
            )
        if requested == "fp16" and device == "cpu":
            raise SearchAppError("fp16 is only supported on CUDA; on CPU use bf16 or fp32.")
        return requested
    if device == "cuda":
        return "fp16"
    return "bf16" if cpu_has_native_bf16() else "fp32"


def torch_dtype(precision: str) -> torch.dtype:
    import torch

    return {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[precision]
