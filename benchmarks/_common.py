"""Shared helpers for the benchmark scripts: machine description, CPU-contention accounting,
logging to stderr and the one-JSON-object-on-stdout convention.

The scripts are run as `python benchmarks/NAME.py`, which puts this folder on sys.path, so they
import this module as `_common`.
"""

from __future__ import annotations

import json
import os
import platform
import sys
from pathlib import Path
from typing import Any

from searchapp.models.cpu_contention import OtherProcessesCpu
from searchapp.models.cpu_contention import machine_busy_seconds as _machine_busy_seconds


def log(message: str) -> None:
    """Progress goes to stderr; stdout is reserved for the final JSON object."""
    print(message, file=sys.stderr, flush=True)


def emit(result: dict[str, Any]) -> None:
    json.dump(result, sys.stdout, indent=2)
    sys.stdout.write("\n")
    sys.stdout.flush()


def usable_cores() -> int:
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def _cpuinfo() -> tuple[str, set[str]]:
    model, flags = "unknown", set[str]()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                key, _, value = line.partition(":")
                key = key.strip()
                if key == "model name" and model == "unknown":
                    model = value.strip()
                elif key == "flags" and not flags:
                    flags = set(value.split())
                if model != "unknown" and flags:
                    break
    except OSError:
        pass
    return model, flags


def machine_info(with_torch: bool = False) -> dict[str, Any]:
    """Where the numbers came from. `with_torch` imports torch (and open_clip if present)."""
    model, flags = _cpuinfo()
    info: dict[str, Any] = {
        "cpu_model": model,
        "usable_cores": usable_cores(),
        "logical_cpus": os.cpu_count(),
        "cpu_flags_of_interest": sorted(
            flag
            for flag in flags
            if flag in {"avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile", "avx512_vnni"}
        ),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "load_average_1m": round(os.getloadavg()[0], 2),
    }
    try:
        with open("/proc/meminfo", encoding="utf-8") as fh:
            total_kib = int(fh.readline().split()[1])
        info["memory_total_gib"] = round(total_kib / 1024**2, 1)
    except (OSError, ValueError, IndexError):
        pass
    if with_torch:
        import torch

        info["torch"] = torch.__version__
        info["torch_threads"] = torch.get_num_threads()
        info["torch_cuda_available"] = bool(torch.cuda.is_available())
        try:
            import open_clip

            info["open_clip"] = open_clip.__version__
        except ImportError:
            pass
    return info


def machine_busy_seconds() -> float:
    """CPU seconds spent by every process on the machine so far (all cores, /proc/stat)."""
    return _machine_busy_seconds() or 0.0


class ForeignCpu(OtherProcessesCpu):
    """Measures the CPU time *other* processes used while a block ran (machine is shared); the
    children this process waited for count as its own.

    `foreign_cpu_s` near 0 means the measurement had the cores to itself; a value comparable to
    the wall time means roughly one core was taken by someone else and the numbers are pessimistic.
    """

    def __init__(self) -> None:
        super().__init__(children=True)

    @property
    def foreign_cpu_s(self) -> float:
        return self.cpu_s

    def as_dict(self) -> dict[str, float]:
        return {"foreign_cpu_s": round(self.cpu_s, 2), "foreign_cores": round(self.cores, 2)}


class PartFailed(Exception):
    """A measurement ran, but what it found does not pass; the message says why."""


class ResultFile:
    """A measurement's results, rewritten to `path` (atomically) on every change, so a process
    killed at its time limit still leaves everything it had measured."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.data: dict[str, Any] = {}

    def set(self, key: str, value: Any) -> None:
        self.data[key] = value
        self._write()

    def update(self, values: dict[str, Any]) -> None:
        self.data.update(values)
        self._write()

    def _write(self) -> None:
        partial = self.path.with_name(f".{self.path.name}.part")
        partial.write_text(json.dumps(self.data, indent=2) + "\n", encoding="utf-8")
        os.replace(partial, self.path)
