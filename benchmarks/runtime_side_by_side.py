"""Runtimes side by side on this machine, and whole cold indexes against rclip: one JSON object.

1. Whole processes, interleaved over `--rounds` (median): a cold `searchapp index --json` of a
   synthetic library of `--n` camera photos (4000x3000 JPEG, synthetic_library.py) with random
   ViT-B-32-256 weights (rclip's architecture), in the runtime chosen by calibration (`auto`,
   remembered from a preparation run) and in ONNX int8; and rclip 3.3.0 through the peer harness
   (`/work/shared/peers/rclip/rclip_offline.py`, random weights of the same architecture), which
   indexes the same folder and answers one query. For ours: `to_searchable_s` = process wall
   time minus the time spent tagging after photos became searchable (the report's
   `tagged_seconds - searchable_seconds`), `to_tagged_s` = the whole process (first index of a
   model: the default vocabulary is embedded; label banks are not reused between runs, the
   exported towers are, as rclip's prepared model files are). Peak RSS from wait4 of each child;
   these runs happen before this process loads any model, so no child inherits a large peak.
2. Model only, the same random batch for every runtime, rounds interleaved (median images/s):
   torch fp32, torch bf16, ONNX Runtime fp32 and int8 (exported and verified by the app's own
   code), with each one's minimum cosine against torch fp32; decode + preprocess core-ms per
   photo (one thread, the app's decode at the model's input size); and each runtime's
   work-conserving bound = 1 / (decode core-s / cores + 1 / model rate).
3. Ratios: rclip's wall time over ours, to searchable and to tagged.

    python benchmarks/runtime_side_by_side.py --n 40 --rounds 2
    python benchmarks/runtime_side_by_side.py --n 2000 --size 640x480 --variants ours_onnx_fp32
    python benchmarks/runtime_side_by_side.py --n 40 --skip-rclip   # without the peer
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import ForeignCpu, emit, log, machine_info, usable_cores
from make_random_checkpoint import random_checkpoint
from synthetic_library import DEFAULT_SIZE, make_library, parse_size

MODEL = "ViT-B-32-256"
RCLIP_PEER = Path("/work/shared/peers/rclip/rclip_offline.py")
RCLIP_PYTHON = Path("/tmp/rclip-venv/bin/python")
QUERY = "a photo of a dog playing on the beach"
VARIANTS: dict[str, dict[str, str]] = {
    "ours_auto": {},
    "ours_onnx_fp32": {"SEARCHAPP_RUNTIME": "onnx", "SEARCHAPP_PRECISION": "fp32"},
    "ours_int8": {"SEARCHAPP_PRECISION": "int8"},
    "ours_torch_bf16": {"SEARCHAPP_RUNTIME": "torch", "SEARCHAPP_PRECISION": "bf16"},
}
BOUND_OF = {"onnx fp32": "onnx_fp32", "onnx int8": "onnx_int8", "torch bf16": "torch_bf16"}


def _measured(cmd: list[str], env: dict[str, str], cwd: Path | None = None) -> dict[str, Any]:
    """Run one child; wall time, its own peak RSS (wait4) and other processes' CPU meanwhile."""
    with (
        tempfile.TemporaryFile("w+") as out,
        tempfile.TemporaryFile("w+") as err,
        ForeignCpu() as foreign,
    ):
        load_before = os.getloadavg()[0]
        started = time.perf_counter()
        process = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=out, stderr=err, text=True)
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    result: dict[str, Any] = {
        "wall_s": round(wall, 2),
        "peak_rss_mib": round(usage.ru_maxrss / 1024, 1),
        **foreign.as_dict(),
        "load_average_1m": [round(load_before, 2), round(os.getloadavg()[0], 2)],
        "returncode": process.returncode,
        "stdout": stdout,
    }
    if process.returncode != 0:
        result["stderr_tail"] = stderr[-1500:]
    return result


def _user_cache(shared: Path, run_dir: Path) -> Path:
    """A fresh user cache sharing the exported towers and the calibration, not label banks."""
    cache = run_dir / "cache"
    cache.mkdir(parents=True)
    (cache / "exports").symlink_to(shared / "exports", target_is_directory=True)
    calibration = shared / "calibration.json"
    if calibration.is_file():
        shutil.copy(calibration, cache / "calibration.json")
    return cache


def _ours(
    library: Path, checkpoint: Path, shared: Path, work: Path, label: str, env_extra: dict[str, str]
) -> dict[str, Any]:
    run_dir = Path(tempfile.mkdtemp(prefix=f"{label}-", dir=work))
    env = {
        **os.environ,
        "SEARCHAPP_DATA_DIR": str(run_dir / "data"),
        "SEARCHAPP_CACHE_DIR": str(_user_cache(shared, run_dir)),
        "HF_HUB_OFFLINE": "1",
        **env_extra,
    }
    cmd = [sys.executable, "-m", "searchapp", "index", str(library), "--json"]
    cmd += ["--model", MODEL, "--pretrained", str(checkpoint)]
    result = _measured(cmd, env)
    shutil.rmtree(run_dir, ignore_errors=True)
    if result["returncode"] != 0:
        return result
    report = json.loads(result.pop("stdout"))
    tagging = (report["tagged_seconds"] or report["searchable_seconds"]) - report[
        "searchable_seconds"
    ]
    return {
        **result,
        "to_searchable_s": round(result["wall_s"] - tagging, 2),
        "to_tagged_s": result["wall_s"],
        "embedded": report["embedded"],
        "steady_images_per_s": report.get("steady_images_per_s"),
        "runtime": report["runtime"],
        "runtime_source": report["runtime_source"],
    }


def _rclip(library: Path, work: Path, python: Path) -> dict[str, Any]:
    run_dir = Path(tempfile.mkdtemp(prefix="rclip-", dir=work))
    cmd = [str(python), str(RCLIP_PEER), "--datadir", str(run_dir), "--cwd", str(library)]
    result = _measured([*cmd, "--", "-t", "1", QUERY], {**os.environ})
    result.pop("stdout", None)
    shutil.rmtree(run_dir, ignore_errors=True)
    return {**result, "to_searchable_s": result["wall_s"]}


def _median(runs: list[dict[str, Any]], key: str) -> float | None:
    values = [run[key] for run in runs if run.get("returncode") == 0 and key in run]
    return round(statistics.median(values), 2) if values else None


def whole_processes(args: argparse.Namespace, library: Path, checkpoint: Path) -> dict[str, Any]:
    shared = args.cache_dir / "user-cache"
    work = Path(tempfile.mkdtemp(prefix="side-by-side-"))
    prep_library = args.cache_dir / "prep-library"
    make_library(prep_library, 4, seed=7)
    log("preparation: export, int8 graphs and runtime calibration (once per model and machine)")
    for extra in ({}, {"SEARCHAPP_PRECISION": "int8"}):
        prep_env = {
            **os.environ,
            "SEARCHAPP_DATA_DIR": str(work / f"prep-{len(extra)}"),
            "SEARCHAPP_CACHE_DIR": str(shared),
            **extra,
        }
        cmd = [sys.executable, "-m", "searchapp", "index", str(prep_library), "--json"]
        cmd += ["--model", MODEL, "--pretrained", str(checkpoint), "--no-tag"]
        prep = _measured(cmd, prep_env)
        if prep["returncode"] != 0:
            raise SystemExit(f"preparation failed: {prep.get('stderr_tail')}")
        log(f"  prepared in {prep['wall_s']} s")
    variants = {name: VARIANTS[name] for name in args.variants}
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in [*variants, "rclip"]}
    rclip_ok = not args.skip_rclip and RCLIP_PEER.is_file() and args.rclip_python.is_file()
    if rclip_ok:
        prepared = _measured(
            [str(args.rclip_python), str(RCLIP_PEER), "--prepare-models"], {**os.environ}
        )
        rclip_ok = prepared["returncode"] == 0
        if not rclip_ok:
            log(f"rclip models could not be prepared: {prepared.get('stderr_tail')}")
    for round_number in range(args.rounds):
        if rclip_ok:
            runs["rclip"].append(_rclip(library, work, args.rclip_python))
            log(f"round {round_number}: rclip {json.dumps(runs['rclip'][-1])}")
        for name, extra in variants.items():
            runs[name].append(_ours(library, checkpoint, shared, work, name, extra))
            run = runs[name][-1]
            log(f"round {round_number}: {name} {json.dumps(run)}")
    shutil.rmtree(work, ignore_errors=True)
    summary: dict[str, Any] = {}
    for name, variant_runs in runs.items():
        if not variant_runs:
            continue
        summary[name] = {
            "to_searchable_s": _median(variant_runs, "to_searchable_s"),
            "to_tagged_s": _median(variant_runs, "to_tagged_s"),
            "peak_rss_mib": _median(variant_runs, "peak_rss_mib"),
            "steady_images_per_s": _median(variant_runs, "steady_images_per_s"),
            "runs": variant_runs,
        }
    rclip = summary.get("rclip", {}).get("to_searchable_s")
    if rclip:
        for name in variants:
            ours = summary.get(name, {})
            if ours.get("to_searchable_s"):
                ours["rclip_over_ours_to_searchable"] = round(rclip / ours["to_searchable_s"], 2)
            if ours.get("to_tagged_s"):
                ours["rclip_over_ours_to_tagged"] = round(rclip / ours["to_tagged_s"], 2)
    return summary


def model_only(args: argparse.Namespace, library: Path, checkpoint: Path) -> dict[str, Any]:
    import numpy as np
    import torch

    from searchapp.config import Settings
    from searchapp.image_input import decode_for_model
    from searchapp.models.base import ModelSpec
    from searchapp.models.export_cache import load_manifest
    from searchapp.models.onnx_embedder import OnnxEmbedder
    from searchapp.models.onnx_quantize import ensure_int8
    from searchapp.models.registry import load_embedder

    shared = args.cache_dir / "user-cache"
    spec = ModelSpec(MODEL, str(checkpoint))
    settings = Settings(device="cpu", precision="fp32", cache_dir=shared)
    fp32 = load_embedder(spec, settings)
    manifest = load_manifest(shared, fp32.identity) or fp32.export_onnx(shared)  # type: ignore[attr-defined]
    assert manifest is not None
    manifest = ensure_int8(manifest)
    bf16 = load_embedder(spec, settings)
    bf16.use_precision("bf16")  # type: ignore[attr-defined]
    onnx32 = OnnxEmbedder(fp32.identity, manifest, "fp32")
    onnx8 = OnnxEmbedder(fp32.identity, manifest, "int8")

    photos = sorted(p for p in library.rglob("*") if p.suffix.lower() in (".jpg", ".jpeg"))
    photos = photos[: args.batch]
    decode_ms = []
    pictures = []
    for path in photos:
        data = path.read_bytes()
        started = time.perf_counter()
        picture = decode_for_model(data, Settings(), onnx32.input_size).image
        onnx32.preprocess(picture)
        decode_ms.append(1000 * (time.perf_counter() - started))
        pictures.append(picture)
    batch_np = [onnx32.preprocess(p) for p in pictures]
    batch_torch = [torch.from_numpy(item) for item in batch_np]
    runtimes: dict[str, tuple[Any, list[Any]]] = {
        "torch_fp32": (fp32, batch_torch),
        "torch_bf16": (bf16, batch_torch),
        "onnx_fp32": (onnx32, batch_np),
        "onnx_int8": (onnx8, batch_np),
    }
    vectors = {name: emb.encode_images(batch) for name, (emb, batch) in runtimes.items()}
    timings: dict[str, list[float]] = {name: [] for name in runtimes}
    with ForeignCpu() as foreign:
        for _ in range(args.model_rounds):
            for name, (embedder, batch) in runtimes.items():
                started = time.perf_counter()
                embedder.encode_images(batch)
                timings[name].append(time.perf_counter() - started)
    cores = usable_cores()
    decode_core_s = statistics.median(decode_ms) / 1000
    result: dict[str, Any] = {
        "batch": len(batch_np),
        "rounds": args.model_rounds,
        "decode_core_ms_per_image": round(1000 * decode_core_s, 1),
        **foreign.as_dict(),
    }
    reference = vectors["torch_fp32"]
    for name in runtimes:
        rate = len(batch_np) / statistics.median(timings[name])
        cosine = float(np.min(np.sum(vectors[name] * reference, axis=1)))
        result[name] = {
            "images_per_s": round(rate, 2),
            "min_cosine_vs_torch_fp32": round(cosine, 5),
            "bound_images_per_s": round(1 / (decode_core_s / cores + 1 / rate), 2),
        }
    return result


def steady_against_bound(whole: dict[str, Any], model: dict[str, Any]) -> None:
    """Each variant's steady rate over the work-conserving bound of the runtime it ran."""
    for summary in whole.values():
        runs = [run for run in summary["runs"] if run.get("runtime") in BOUND_OF]
        if not runs or summary.get("steady_images_per_s") is None:
            continue
        bound = model[BOUND_OF[runs[0]["runtime"]]]["bound_images_per_s"]
        summary["bound_images_per_s"] = bound
        summary["steady_over_bound"] = round(summary["steady_images_per_s"] / bound, 2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=40, help="photos in the library")
    parser.add_argument("--size", default="4000x3000", help="photo size, WxH")
    parser.add_argument("--variants", nargs="+", choices=sorted(VARIANTS), default=list(VARIANTS))
    parser.add_argument("--rounds", type=int, default=2, help="interleaved whole-process rounds")
    parser.add_argument("--batch", type=int, default=16, help="model-only batch size")
    parser.add_argument("--model-rounds", type=int, default=3)
    parser.add_argument("--cache-dir", type=Path, default=Path("~/.cache/searchapp-bench"))
    parser.add_argument("--rclip-python", type=Path, default=RCLIP_PYTHON)
    parser.add_argument("--skip-rclip", action="store_true")
    parser.add_argument("--skip-model-only", action="store_true")
    args = parser.parse_args()
    args.cache_dir = args.cache_dir.expanduser()
    size = parse_size(args.size)
    suffix = "" if size == DEFAULT_SIZE else f"-{args.size}"
    library = args.cache_dir / f"side-by-side-{args.n}{suffix}"
    log(f"library: {args.n} photos of {args.size} in {library}")
    make_library(library, args.n, seed=1, size=size)
    checkpoint = random_checkpoint(MODEL, args.cache_dir)
    started = time.perf_counter()
    result: dict[str, Any] = {
        "machine": machine_info(),
        "model": f"{MODEL}, random weights",
        "photos": args.n,
        "photo_size": args.size,
        "whole_process": whole_processes(args, library, checkpoint),
    }
    log(json.dumps(result["whole_process"]))
    if not args.skip_model_only:
        result["model_only"] = model_only(args, library, checkpoint)
        steady_against_bound(result["whole_process"], result["model_only"])
    result["machine"]["load_average_1m_end"] = round(os.getloadavg()[0], 2)
    result["seconds"] = round(time.perf_counter() - started, 1)
    emit(result)


if __name__ == "__main__":
    main()
