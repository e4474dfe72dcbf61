"""The GPU check's indexing part (see gpu_check.py): a generated library of camera-size JPEGs
indexed by the real CLI, end to end, for each architecture with random weights in fp16, with
nvJPEG decoding on and off; then the model alone on the GPU.

Per end-to-end run (`searchapp -v --data-dir <fresh> index LIB --model M --pretrained <random
checkpoint> --no-tag`, whole process, torch runtime): images/s over the wall time and once the
model had loaded (index_throughput.py's log reading), CPU seconds and cores used by the process
and its decode workers, peak RSS, the GPU memory used above idle and the mean GPU load (NVML,
sampled every 0.1 s) and whether JPEGs were in fact decoded on the GPU (the pipeline's log line).
Model only: encode_image on batches of the CUDA pipeline's size (index_throughput.model_only),
images/s and torch's peak GPU memory. The library is made of `distinct` drawn photos in EXIF
variants (synthetic_library.make_burst_library), so that it can be made in well under a minute.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import threading
from pathlib import Path
from types import TracebackType
from typing import Any

from _common import PartFailed, ResultFile, log
from index_throughput import (
    Launcher,
    default_batch_size,
    model_only,
    parse_summary,
    searchapp_command,
    steady_rate,
)
from make_random_checkpoint import random_checkpoint
from small_library import TINY_MODEL_NAME, tiny_model
from synthetic_library import make_burst_library

NVJPEG_LOG_TEXT = "decoding JPEGs on cuda"


def library_root(args: argparse.Namespace) -> Path:
    width, height = args.photo_size
    return args.work_dir / f"library-{width}x{height}-n{args.photos}-d{args.distinct}"


def prepare_library(args: argparse.Namespace, result: ResultFile) -> None:
    paths = make_burst_library(
        library_root(args), args.photos, 0, args.photo_size, distinct=args.distinct
    )
    sizes = [path.stat().st_size for path in paths]
    result.update(
        {
            "path": str(library_root(args)),
            "photos": len(paths),
            "distinct_drawn": args.distinct,
            "photo_size": "{}x{}".format(*args.photo_size),
            "total_mib": round(sum(sizes) / 2**20, 1),
            "median_bytes": int(statistics.median(sizes)),
        }
    )


class GpuSampler:
    """Device memory used above what was used at the start, and mean load, polled via NVML
    (the measured process is a grandchild, so torch's own counters cannot see it)."""

    def __init__(self) -> None:
        self.unavailable: str | None = None
        try:
            import pynvml

            pynvml.nvmlInit()
            self._nvml = pynvml
            self._handle = pynvml.nvmlDeviceGetHandleByIndex(0)
        except Exception as exc:  # no NVML (no GPU, or nvidia-ml-py missing)
            self.unavailable = f"{type(exc).__name__}: {exc}"[:200]

    def __enter__(self) -> GpuSampler:
        self._peak, self._loads = 0, list[int]()
        self._stop = threading.Event()
        if self.unavailable is None:
            self._base = self._nvml.nvmlDeviceGetMemoryInfo(self._handle).used
            self._thread = threading.Thread(target=self._poll, daemon=True)
            self._thread.start()
        return self

    def _poll(self) -> None:
        while not self._stop.wait(0.1):
            self._peak = max(self._peak, self._nvml.nvmlDeviceGetMemoryInfo(self._handle).used)
            self._loads.append(self._nvml.nvmlDeviceGetUtilizationRates(self._handle).gpu)

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stop.set()
        if self.unavailable is None:
            self._thread.join()

    def as_dict(self) -> dict[str, Any]:
        if self.unavailable is not None:
            return {"gpu_memory_peak_mib": None, "gpu_sampling": self.unavailable}
        return {
            "gpu_memory_peak_mib": round(max(0, self._peak - self._base) / 2**20),
            "gpu_load_mean_pct": round(statistics.mean(self._loads), 1) if self._loads else None,
        }


def model_flags(model: str, cache: Path) -> tuple[list[str], str]:
    """The CLI flags that load `model` with random weights, and its open_clip name; "tiny" is
    the benchmarks' tiny model (dry runs)."""
    if model == "tiny":
        import open_clip

        config, checkpoint = tiny_model(cache)
        open_clip.add_model_config(config)
        return ["--model-config", str(config), "--pretrained", str(checkpoint)], TINY_MODEL_NAME
    checkpoint = random_checkpoint(model, cache / "checkpoints")
    return ["--model", model, "--pretrained", str(checkpoint)], model


def end_to_end(
    launcher: Launcher, library: Path, n: int, flags: list[str], env: dict[str, str]
) -> dict[str, Any]:
    data_dir = Path(tempfile.mkdtemp(prefix="gpu-check-data-"))
    command = [*searchapp_command(), "-v", "--data-dir", str(data_dir), "index", str(library)]
    command += [*flags, "--no-tag"]
    launcher.env = env
    try:
        with GpuSampler() as gpu:
            run = launcher.run(command)
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)
    if run["returncode"]:
        tail = (run["stdout"] + run["stderr"])[-600:]
        raise RuntimeError(f"searchapp index exited {run['returncode']}: {tail}")
    summary = parse_summary(run["stdout"]) or {}
    steady = steady_rate(run["stderr"], run["started_at"]) or {}
    return {
        "images_per_s": round(n / run["wall_s"], 3),
        "steady_images_per_s": steady.get("steady_images_per_s"),
        "wall_s": round(run["wall_s"], 2),
        "model_ready_after_s": steady.get("steady", {}).get("model_ready_after_s"),
        "embedded": summary.get("embedded"),
        "failed": summary.get("failed"),
        "nvjpeg_used": NVJPEG_LOG_TEXT in run["stderr"],
        "cpu_s": run["cpu_s"],
        "cpu_cores_used": round(run["cpu_s"] / run["wall_s"], 2),
        "peak_rss_mib": run["peak_rss_mib"],
        **gpu.as_dict(),
        "command": " ".join(command),
    }


def model_alone(name: str, device: str, precision: str, batch: int) -> dict[str, Any]:
    import open_clip
    import torch

    torch.manual_seed(0)
    with torch.device(device):  # random initialisation on the GPU: seconds, not a minute
        model, _, preprocess = open_clip.create_model_and_transforms(name, device=device)
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    settings = argparse.Namespace(
        model=name, model_batch=batch, seed=0, model_warmup=2, model_iters=5
    )
    result = model_only(model, preprocess, device, precision, settings)
    result["params_m"] = round(sum(p.numel() for p in model.parameters()) / 1e6, 1)
    if device == "cuda":
        result["gpu_memory_peak_mib"] = round(torch.cuda.max_memory_allocated() / 2**20)
    del model
    if device == "cuda":
        torch.cuda.empty_cache()
    return result


def measure(args: argparse.Namespace, result: ResultFile) -> None:
    import os

    launcher = Launcher(dict(os.environ))  # before this process grows (see Launcher)
    try:
        measure_with(launcher, args, result)
    finally:
        launcher.close()


def measure_with(launcher: Launcher, args: argparse.Namespace, result: ResultFile) -> None:
    import os

    from searchapp.models.precision import choose_precision

    library = library_root(args)
    paths = make_burst_library(library, args.photos, 0, args.photo_size, distinct=args.distinct)
    precision = "fp16" if args.device == "cuda" else choose_precision("cpu", "auto")
    batch = 8 if args.dry_run else default_batch_size(args.device)
    result.update({"device": args.device, "precision": precision, "photos": len(paths)})
    errors: list[str] = []
    models: dict[str, Any] = {}
    for model in args.models.split(","):
        entry: dict[str, Any] = {}
        models[model] = entry
        try:
            flags, name = model_flags(model, args.work_dir)
        except (Exception, SystemExit) as exc:
            errors.append(f"{model}: {exc}")
            entry["error"] = str(exc)
            result.set("models", models)
            continue
        for nvjpeg in ("on", "off"):
            env = dict(os.environ, SEARCHAPP_DEVICE=args.device, SEARCHAPP_PRECISION=precision)
            env.update(SEARCHAPP_RUNTIME="torch", SEARCHAPP_CACHE_DIR=str(args.work_dir / "cache"))
            env.update(SEARCHAPP_GPU_JPEG_DECODE=str(nvjpeg == "on").lower())
            log(f"index: {model}, nvJPEG {nvjpeg}")
            try:
                entry[f"nvjpeg_{nvjpeg}"] = end_to_end(launcher, library, len(paths), flags, env)
                log(f"  {entry[f'nvjpeg_{nvjpeg}']}")
            except Exception as exc:
                errors.append(f"{model} nvJPEG {nvjpeg}: {exc}"[:400])
                entry[f"nvjpeg_{nvjpeg}"] = {"error": str(exc)[:600]}
            result.set("models", models)
        log(f"index: {model}, model only")
        try:
            entry["model_only"] = model_alone(name, args.device, precision, batch)
        except Exception as exc:
            errors.append(f"{model} model only: {exc}"[:400])
            entry["model_only"] = {"error": str(exc)[:600]}
        result.set("models", models)
    if errors:
        raise PartFailed("; ".join(errors))
