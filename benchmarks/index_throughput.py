"""End-to-end indexing throughput of the real CLI, set against what this machine's cores allow,
plus the per-file costs that do not depend on the model: one JSON object on stdout.

1. Generates (or reuses, under --cache-dir) a deterministic library of N photos (4000x3000 JPEG
   q90, 2-5 MB each, some with EXIF rotation, nested folders); see synthetic_library.py.
2. Decoder comparison: single-threaded cost per 4000x3000 JPEG (median over ~20 files held in
   memory) of PIL full decode, PIL draft to the model input size, simplejpeg and PyTurboJPEG at
   scale 1/8 when importable, and the app's own `searchapp.decode.decode_image`.
3. The work-conserving bound. Model only: `model_only_images_per_s`, encode_image on batches of
   the pipeline's default size (32 on CPU), random weights, in the precision the CLI would use
   (bf16 on a CPU with native bf16), after warm-up (model_throughput.py's timing code), and
   `model_core_ms_per_image` = 1000 * torch threads / that rate. Per decode worker:
   `decode_core_ms_per_image`, single-threaded, median over the same files of what a worker does
   with a new photo: `decode_image(data, input_size, 180)` then the model's own preprocess.
   `bound_images_per_s` = cores / (decode core-seconds + model core-seconds) per image: the best
   any schedule of the pipeline could do with every core busy on useful work.
4. Times the WHOLE process `searchapp -v --data-dir <fresh tmp> index <lib> --model M
   --pretrained <random ckpt>` (wall time: interpreter start, imports, model load, decode, embed,
   store, FAISS; `index_seconds`, `images_per_s`) and its peak RSS (os.wait4 of that one child).
   `steady_images_per_s`, from the timestamps of its -v log: photos embedded after the line
   "library model is now ..." divided by the time from that line to the last "batch written"
   line (the pipeline once the model is loaded). Photos decoded while the model loaded count
   too: the pipeline decodes up to 8 batches ahead meanwhile, so for a library that is not much
   larger than that (the default 200 photos) this is mostly the rate of preprocess + embed on a
   backlog, and can exceed the bound; `steady.batch_written_after_ready_s` shows the batches.
   `ratio_to_bound` and `whole_process_ratio_to_bound` set both rates against the bound. Then
   a no-op re-index of the same library.
5. `noop_reindex_10k_seconds`: whole-process time of a no-op re-index of 10,000 small distinct
   JPEGs (64x48), indexed once with a tiny random open_clip model (small_library.py), then
   `searchapp --data-dir D index LIB` timed 3 times (median), plus one run with --json for the
   pipeline's own `seconds`.
6. `peak_rss_mib_1000`, `peak_rss_mib_5000`, `rss_growth_pct`: peak RSS of a whole cold
   `searchapp index` of 1,000 and 5,000 small distinct JPEGs (640x480; the larger library is a
   superset of the smaller) with the tiny model: memory must stay flat as the library grows.
   `rss_growth_mib` is the same difference in MiB; importing torch and open_clip alone peaks
   near 750 MiB, so the percentage is measured on top of that floor.

Every measured CLI process is started from a small launcher process spawned first: on Linux a
child's ru_maxrss includes the peak RSS of the process that exec'd it, so starting children from
this process after it built a model would report at least that much for each of them
(`launcher_peak_rss_mib` is that floor; it should be a few tens of MiB).

"foreign_cpu_s" is CPU time other processes used meanwhile: near 0 means clean numbers. Libraries
are read from the page cache (just generated or read), as on a warm second run.

    python benchmarks/index_throughput.py                 # full size: 200 photos, 10k, 1k/5k
    python benchmarks/index_throughput.py --n 8 --noop-files 500 --rss-files 200,500  # smoke
    python benchmarks/index_throughput.py --decode-only   # only steps 1 and 2
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import io
import json
import multiprocessing
import os
import re
import resource
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any, cast

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import ForeignCpu, emit, log, machine_busy_seconds, machine_info, usable_cores
from make_random_checkpoint import random_checkpoint
from small_library import small_library, tiny_model
from synthetic_library import DEFAULT_SIZE, make_library, parse_size

DEFAULT_CACHE = Path("~/.cache/searchapp-bench")
MAX_MEGAPIXELS = 180.0  # the app's default SEARCHAPP_MAX_IMAGE_MEGAPIXELS
SUMMARY_RE = re.compile(
    r"Indexed (?P<indexed>\d+) \((?P<embedded>\d+) embedded, (?P<linked>\d+) .*?unchanged "
    r"(?P<unchanged>\d+), removed (?P<removed>\d+),? failed (?P<failed>\d+) in "
    r"(?P<seconds>[\d.]+) s"
)
LOG_TIME_RE = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) ")  # logging's asctime
MODEL_READY_TEXT = "library model is now "
BATCH_RE = re.compile(r"batch written: (\d+) embedded")

# ---------------------------------------------------------------------------------------------
# decode costs


def _median_ms(datas: list[bytes], decode: Callable[[bytes], Any]) -> tuple[float, Any]:
    """Median single-call time over the files (one warm-up call first), and the last result."""
    result = decode(datas[0])
    timings = []
    for data in datas:
        started = time.perf_counter()
        result = decode(data)
        timings.append(time.perf_counter() - started)
    return round(1000 * statistics.median(timings), 2), result


def _shape(result: Any) -> str:
    if hasattr(result, "size") and isinstance(result.size, tuple):  # PIL image
        return f"{result.size[0]}x{result.size[1]}"
    height, width = result.shape[:2]  # numpy array
    return f"{width}x{height}"


def decode_costs(
    paths: list[Path], samples: int, draft_size: int, turbojpeg_lib: str | None
) -> dict[str, Any]:
    from PIL import Image

    chosen = paths[:samples]
    datas = [path.read_bytes() for path in chosen]
    with Image.open(io.BytesIO(datas[0])) as first:
        pixels = f"{first.size[0]}x{first.size[1]}"
    result: dict[str, Any] = {
        "samples": len(datas),
        "stored_pixels": pixels,
        "median_bytes": int(statistics.median(len(d) for d in datas)),
        "threads": 1,
    }
    busy0, own0 = machine_busy_seconds(), time.process_time()
    started = time.perf_counter()

    def pil_full(data: bytes) -> Image.Image:
        image = Image.open(io.BytesIO(data))
        image.load()
        return image

    def pil_draft(data: bytes) -> Image.Image:
        image = Image.open(io.BytesIO(data))
        image.draft("RGB", (draft_size, draft_size))
        image.load()
        return image

    result["pil_full_ms"], _ = _median_ms(datas, pil_full)
    result[f"pil_draft_{draft_size}_ms"], drafted = _median_ms(datas, pil_draft)
    result[f"pil_draft_{draft_size}_result"] = _shape(drafted)

    try:
        import simplejpeg

        def simple_eighth(data: bytes) -> Any:
            return simplejpeg.decode_jpeg(data, colorspace="RGB", min_height=1, min_width=1)

        result["simplejpeg_scale_1_8_ms"], out = _median_ms(datas, simple_eighth)
        result["simplejpeg_scale_1_8_result"] = _shape(out)
    except Exception as exc:  # ImportError, or a build that cannot decode these files
        result["simplejpeg_scale_1_8_ms"] = None
        result["simplejpeg_unavailable"] = f"{type(exc).__name__}: {exc}"[:200]

    try:
        from turbojpeg import TJPF_RGB, TurboJPEG

        turbo = TurboJPEG(turbojpeg_lib) if turbojpeg_lib else TurboJPEG()

        def turbo_eighth(data: bytes) -> Any:
            return turbo.decode(data, pixel_format=TJPF_RGB, scaling_factor=(1, 8))

        result["turbojpeg_scale_1_8_ms"], out = _median_ms(datas, turbo_eighth)
        result["turbojpeg_scale_1_8_result"] = _shape(out)
    except Exception as exc:  # ImportError, or no (recent enough) libturbojpeg on the machine
        result["turbojpeg_scale_1_8_ms"] = None
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        result["turbojpeg_unavailable"] = f"{type(exc).__name__}: {first_line}"[:200]

    try:
        from searchapp.decode import decode_image

        def app_decode(data: bytes) -> Any:
            return decode_image(data, draft_size, 180.0).image

        result[f"searchapp_decode_image_{draft_size}_ms"], out = _median_ms(datas, app_decode)
        result[f"searchapp_decode_image_{draft_size}_result"] = _shape(out)
    except Exception as exc:
        result[f"searchapp_decode_image_{draft_size}_ms"] = None
        result["searchapp_decode_unavailable"] = f"{type(exc).__name__}: {exc}"[:200]

    wall = time.perf_counter() - started
    foreign = max(0.0, machine_busy_seconds() - busy0 - (time.process_time() - own0))
    result["foreign_cpu_s"] = round(foreign, 2)
    result["measured_wall_s"] = round(wall, 2)
    return result


# ---------------------------------------------------------------------------------------------
# the work-conserving bound: model-only throughput and a decode worker's cost per photo


def device_and_precision(requested: str) -> tuple[str, str]:
    """What the CLI will use: the repo's own device/precision choice, with the same env vars."""
    from searchapp.models.precision import choose_device, choose_precision

    device = choose_device(cast(Any, os.environ.get("SEARCHAPP_DEVICE", "auto")))
    return device, choose_precision(device, cast(Any, requested))


def resolved_precision(requested: str) -> str:
    try:
        device, precision = device_and_precision(requested)
        return f"{precision} ({device})"
    except Exception as exc:
        return f"{requested} (could not resolve: {type(exc).__name__})"


def model_only(
    model: Any, preprocess: Any, device: str, precision: str, args: argparse.Namespace
) -> dict[str, Any]:
    """Images/s of encode_image alone, as OpenClipEmbedder runs it (model_throughput.py's code)."""
    import torch
    from model_throughput import sample_batch, time_encoder

    from searchapp.models.precision import torch_dtype

    dtype = torch_dtype(precision)
    model = model.to(device=device, dtype=dtype).eval()
    pixels = sample_batch(preprocess, args.model_batch, args.seed).to(device=device, dtype=dtype)
    threads = torch.get_num_threads()
    log(f"model only: {args.model} {precision} {device}, batch {args.model_batch}, {threads} thr.")
    with ForeignCpu() as cpu:
        timings, _ = time_encoder(model, pixels, args.model_warmup, args.model_iters)
    rate = args.model_batch / statistics.median(timings)
    result = {
        "model_only_images_per_s": round(rate, 2),
        "model_core_ms_per_image": round(1000 * threads / rate, 2),
        "model_only": {
            "precision": precision,
            "device": device,
            "batch": args.model_batch,
            "torch_threads": threads,
            "warmup": args.model_warmup,
            "batch_s": [round(t, 3) for t in timings],
            **cpu.as_dict(),
        },
    }
    log(f"  {result['model_only_images_per_s']} images/s ({cpu.as_dict()})")
    return result


def worker_cost(datas: list[bytes], input_size: int | None, preprocess: Any) -> dict[str, Any]:
    """Single-threaded cost of what a decode worker does with a new photo: decode_image at the
    model's input size, then the model's preprocess (median of the sum over the files)."""
    import torch

    from indexer.pipeline import content_hash
    from searchapp.decode import decode_image

    def work(data: bytes) -> tuple[float, float]:
        started = time.perf_counter()
        decoded = decode_image(data, input_size, MAX_MEGAPIXELS)
        middle = time.perf_counter()
        preprocess(decoded.image)
        return middle - started, time.perf_counter() - middle

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        work(datas[0])  # warm-up
        with ForeignCpu() as cpu:
            decode_s, preprocess_s, total_s, hash_s = [], [], [], []
            for data in datas:
                decode, prep = work(data)
                decode_s.append(decode)
                preprocess_s.append(prep)
                total_s.append(decode + prep)
                started = time.perf_counter()
                content_hash(data)
                hash_s.append(time.perf_counter() - started)
    finally:
        torch.set_num_threads(threads)

    def ms(values: list[float]) -> float:
        return round(1000 * statistics.median(values), 2)

    return {
        "decode_core_ms_per_image": ms(total_s),
        "worker": {
            "samples": len(datas),
            "input_size": input_size,
            "decode_image_ms": ms(decode_s),
            "preprocess_ms": ms(preprocess_s),
            "threads": 1,
            # informational, not in the bound: the worker also hashes every file it reads
            "content_hash_ms": ms(hash_s),
            **cpu.as_dict(),
        },
    }


def bound(
    paths: list[Path], device: str, precision: str, args: argparse.Namespace
) -> dict[str, Any]:
    import open_clip
    import torch
    from model_throughput import image_size_of

    log(f"building {args.model} with random weights")
    torch.manual_seed(0)
    model, _, preprocess = open_clip.create_model_and_transforms(args.model, pretrained=None)
    size = image_size_of(model)
    input_size = (max(size) if isinstance(size, list) else size) if size != -1 else None
    result = model_only(model, preprocess, device, precision, args)
    del model
    gc.collect()
    datas = [path.read_bytes() for path in paths[: args.decode_samples]]
    log(f"decode worker cost over {len(datas)} files (decode_image {input_size} + preprocess)")
    result.update(worker_cost(datas, input_size, preprocess))
    log(f"  {result['decode_core_ms_per_image']} ms per photo ({result['worker']})")
    cores = usable_cores()
    per_image_core_s = (
        result["decode_core_ms_per_image"] + result["model_core_ms_per_image"]
    ) / 1000
    result["cores"] = cores
    result["bound_images_per_s"] = round(cores / per_image_core_s, 2)
    return result


# ---------------------------------------------------------------------------------------------
# the CLI, as a measured child process


def searchapp_command() -> list[str]:
    """The installed console script next to this interpreter, else `python -m searchapp`."""
    script = Path(sys.executable).with_name("searchapp")
    if script.is_file() and os.access(script, os.X_OK):
        return [str(script)]
    return [sys.executable, "-m", "searchapp"]


def run_measured(command: list[str], env: dict[str, str]) -> dict[str, Any]:
    """Run to completion; wall time, exit status and rusage (peak RSS) of exactly this child."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        busy0 = machine_busy_seconds()
        started_at = time.time()
        started = time.perf_counter()
        process = subprocess.Popen(command, stdout=out, stderr=err, env=env)
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - started
        busy = machine_busy_seconds() - busy0
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout = out.read().decode("utf-8", "replace")
        stderr = err.read().decode("utf-8", "replace")
    cpu = usage.ru_utime + usage.ru_stime
    return {
        "returncode": process.returncode,
        "started_at": started_at,
        "wall_s": wall,
        "peak_rss_mib": round(usage.ru_maxrss / 1024, 1),  # Linux: KiB
        # a child's ru_maxrss is at least its launcher's peak RSS (Linux copies the old
        # address space's high-water mark at exec), so this must stay far below peak_rss_mib
        "launcher_peak_rss_mib": own_peak_rss_mib(),
        "cpu_s": round(cpu, 2),
        "foreign_cpu_s": round(max(0.0, busy - cpu), 2),
        "stdout": stdout,
        "stderr": stderr,
    }


class Launcher:
    """Starts the measured CLI processes from a small process of its own, spawned before this
    one loads any model: on Linux a child's peak RSS (ru_maxrss) includes the peak RSS of the
    process that launched it, so launching from here after a model was built in this process
    would report at least that for every child."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self._pool = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"))
        self.peak_rss_mib()  # start it now

    def peak_rss_mib(self) -> float:
        return self._pool.submit(own_peak_rss_mib).result()

    def run(self, command: list[str]) -> dict[str, Any]:
        return self._pool.submit(run_measured, command, self.env).result()

    def close(self) -> None:
        self._pool.shutdown()


def own_peak_rss_mib() -> float:
    """High-water RSS of this process's address space (VmHWM), what an exec'd child inherits."""
    try:
        with open("/proc/self/status", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return round(int(line.split()[1]) / 1024, 1)
    except (OSError, ValueError, IndexError):
        pass
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def run_checked(launcher: Launcher, command: list[str], what: str) -> dict[str, Any]:
    log(f"{what}: {shlex.join(command)}")
    run = launcher.run(command)
    if run["returncode"] != 0:
        log(run["stdout"] + run["stderr"])
        raise SystemExit(f"{what} failed with exit status {run['returncode']}")
    return run


def parse_summary(stdout: str) -> dict[str, float] | None:
    match = SUMMARY_RE.search(" ".join(stdout.split()))  # undo rich's line wrapping
    if match is None:
        return None
    return {
        key: float(value) if key == "seconds" else int(value)
        for key, value in match.groupdict().items()
    }


def steady_rate(stderr: str, started_at: float) -> dict[str, Any] | None:
    """Photos embedded per second once the model is loaded, from the -v log's timestamps."""
    ready: float | None = None
    before_ready = 0
    batches: list[tuple[float, int]] = []
    for line in stderr.splitlines():
        stamp = LOG_TIME_RE.match(line)
        if stamp is None:
            continue
        when = dt.datetime.strptime(stamp[1], "%Y-%m-%d %H:%M:%S,%f").timestamp()
        batch = BATCH_RE.search(line)
        if ready is None and MODEL_READY_TEXT in line:
            ready = when
        elif batch is not None and ready is None:
            before_ready += int(batch[1])
        elif batch is not None:
            batches.append((when, int(batch[1])))
    if ready is None or not batches or batches[-1][0] <= ready:
        return None
    images = sum(count for _, count in batches)
    seconds = batches[-1][0] - ready
    return {
        "steady_images_per_s": round(images / seconds, 2),
        "steady": {
            "model_ready_after_s": round(ready - started_at, 2),
            "images_after_model_ready": images,
            "images_before_model_ready": before_ready,
            "seconds_after_model_ready": round(seconds, 2),
            "first_batch_after_model_ready_s": round(batches[0][0] - ready, 2),
            "batches": len(batches),
            "batch_written_after_ready_s": [round(when - ready, 2) for when, _ in batches],
        },
    }


def tiny_model_flags(cache: Path) -> list[str]:
    config, checkpoint = tiny_model(cache)
    return ["--model-config", str(config), "--pretrained", str(checkpoint)]


def count_label(n: int) -> str:
    return f"{n // 1000}k" if n >= 1000 and n % 1000 == 0 else str(n)


# ---------------------------------------------------------------------------------------------
# the measurements through the CLI


def camera_runs(
    library: Path, n: int, checkpoint: Path, launcher: Launcher, args: argparse.Namespace
) -> dict[str, Any]:
    """Cold index of the camera-size library (with -v, for the steady rate), then a no-op."""
    result: dict[str, Any] = {}
    data_dir = Path(tempfile.mkdtemp(prefix="searchapp-bench-data-"))
    base = searchapp_command()
    rerun_command = [*base, "--data-dir", str(data_dir), "index", str(library)]
    command = [*base, "-v", "--data-dir", str(data_dir), "index", str(library)]
    command += ["--model", args.model, "--pretrained", str(checkpoint)]
    if args.batch_size:
        command += ["--batch-size", str(args.batch_size)]
    if args.workers:
        command += ["--workers", str(args.workers)]
    result["command"] = shlex.join(command)
    try:
        cold = run_checked(launcher, command, "cold index")
        summary = parse_summary(cold["stdout"])
        result["index_seconds"] = round(cold["wall_s"], 2)
        result["images_per_s"] = round(n / cold["wall_s"], 2)
        result["peak_rss_mib"] = cold["peak_rss_mib"]
        result["index_cpu_s"] = cold["cpu_s"]
        result["index_foreign_cpu_s"] = cold["foreign_cpu_s"]
        result["index_summary"] = summary
        if summary:
            # the CLI's own timer: scan, decode, embed, write; not imports, model load, FAISS
            result["pipeline_seconds"] = summary["seconds"]
            result["outside_pipeline_seconds"] = round(cold["wall_s"] - summary["seconds"], 2)
            if summary["embedded"] != n or summary["failed"]:
                log(f"warning: expected {n} embedded, got {summary}")
        else:
            log(f"warning: could not parse the CLI summary from: {cold['stdout'][-500:]!r}")
        steady = steady_rate(cold["stderr"], cold["started_at"])
        if steady is None:
            log("warning: no model-ready line or no batch after it in the -v log")
        else:
            result.update(steady)
        log(
            f"  {result['index_seconds']} s, {result['images_per_s']} images/s, steady "
            f"{result.get('steady_images_per_s')} images/s, peak RSS {result['peak_rss_mib']} "
            f"MiB, foreign CPU {cold['foreign_cpu_s']} s"
        )

        noop = run_checked(launcher, rerun_command, "no-op re-index")
        result["noop_reindex_seconds"] = round(noop["wall_s"], 2)
        result["noop_reindex_peak_rss_mib"] = noop["peak_rss_mib"]
        result["noop_reindex_summary"] = parse_summary(noop["stdout"])
        result["noop_foreign_cpu_s"] = noop["foreign_cpu_s"]
        log(f"  {result['noop_reindex_seconds']} s")
    finally:
        if args.keep_data_dir:
            result["data_dir"] = str(data_dir)
        else:
            shutil.rmtree(data_dir, ignore_errors=True)
    return result


def noop_many(cache: Path, launcher: Launcher, args: argparse.Namespace) -> dict[str, Any]:
    """Whole-process no-op re-index of many small files, indexed once with the tiny model."""
    n, label = args.noop_files, count_label(args.noop_files)
    library = small_library(cache, n, args.noop_size)
    data_dir = Path(tempfile.mkdtemp(prefix="searchapp-bench-noop-"))
    command = [*searchapp_command(), "--data-dir", str(data_dir), "index", str(library)]
    try:
        cold = run_checked(launcher, [*command, *tiny_model_flags(cache), "--json"], "tiny index")
        embedded = json.loads(cold["stdout"])["embedded"]
        if embedded != n:
            log(f"warning: expected {n} embedded, got {embedded}")
        runs = [run_checked(launcher, command, f"no-op {i + 1}") for i in range(args.noop_runs)]
        for run in runs:
            summary = parse_summary(run["stdout"])
            if summary is None or summary["unchanged"] != n:
                log(f"warning: expected {n} unchanged, got {summary}")
        as_json = run_checked(launcher, [*command, "--json"], "no-op --json")
        pipeline = json.loads(as_json["stdout"])
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)
    walls = [run["wall_s"] for run in runs]
    result = {
        f"noop_reindex_{label}_seconds": round(statistics.median(walls), 2),
        f"noop_reindex_{label}_pipeline_seconds": pipeline["seconds"],
        f"noop_reindex_{label}": {
            "files": n,
            "image_size": f"{args.noop_size[0]}x{args.noop_size[1]}",
            "library": str(library),
            "command": shlex.join(command),
            "runs_s": [round(wall, 2) for wall in walls],
            "json_run_wall_s": round(as_json["wall_s"], 2),
            "peak_rss_mib": max(run["peak_rss_mib"] for run in runs),
            "foreign_cpu_s": [run["foreign_cpu_s"] for run in runs],
            "cold_index_tiny_model_s": round(cold["wall_s"], 2),
        },
    }
    log(f"  {result}")
    return result


def rss_growth(cache: Path, launcher: Launcher, args: argparse.Namespace) -> dict[str, Any]:
    """Peak RSS of a whole cold index of small libraries of growing size, tiny model."""
    result: dict[str, Any] = {}
    details: dict[str, Any] = {}
    counts = sorted(args.rss_files)
    for n in counts:
        library = small_library(cache, n, args.rss_size)
        data_dir = Path(tempfile.mkdtemp(prefix="searchapp-bench-rss-"))
        command = [*searchapp_command(), "--data-dir", str(data_dir), "index", str(library)]
        try:
            run = run_checked(launcher, [*command, *tiny_model_flags(cache)], f"cold index of {n}")
        finally:
            shutil.rmtree(data_dir, ignore_errors=True)
        summary = parse_summary(run["stdout"])
        if summary is None or summary["embedded"] != n:
            log(f"warning: expected {n} embedded, got {summary}")
        result[f"peak_rss_mib_{n}"] = run["peak_rss_mib"]
        details[str(n)] = {
            "library": str(library),
            "wall_s": round(run["wall_s"], 2),
            "pipeline_seconds": summary["seconds"] if summary else None,
            "foreign_cpu_s": run["foreign_cpu_s"],
        }
        log(f"  peak RSS {run['peak_rss_mib']} MiB, {run['wall_s']:.1f} s")
    if len(counts) >= 2:
        first, last = result[f"peak_rss_mib_{counts[0]}"], result[f"peak_rss_mib_{counts[-1]}"]
        result["rss_growth_pct"] = round(100 * (last / first - 1), 1)
        result["rss_growth_mib"] = round(last - first, 1)
    result["rss"] = {"image_size": f"{args.rss_size[0]}x{args.rss_size[1]}", "runs": details}
    return result


def parse_counts(text: str) -> list[int]:
    return [int(part) for part in text.split(",") if part.strip()]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=200, help="photos in the library (default 200)")
    parser.add_argument("--size", type=parse_size, default=DEFAULT_SIZE, help="WxH (4000x3000)")
    parser.add_argument("--quality", type=int, default=90)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--model", default="ViT-B-32-256")
    parser.add_argument(
        "--precision",
        choices=("auto", "fp32", "bf16"),
        default=None,
        help="sets SEARCHAPP_PRECISION for the CLI and the model-only run (default: auto)",
    )
    parser.add_argument(
        "--batch-size",
        type=int,
        default=None,
        help="passed to `index`; also the model-only batch (default: the pipeline's, 32 on CPU)",
    )
    parser.add_argument("--workers", type=int, default=None, help="passed to `index`")
    parser.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE)
    parser.add_argument("--keep-data-dir", action="store_true", help="do not delete the tmp DB")
    parser.add_argument("--decode-samples", type=int, default=20)
    parser.add_argument(
        "--draft-size", type=int, default=256, help="PIL draft target (default 256)"
    )
    parser.add_argument("--turbojpeg-lib", default=None, help="path of libturbojpeg.so (>= 3.0)")
    parser.add_argument("--decode-only", action="store_true", help="skip everything after 2")
    parser.add_argument("--skip-decode", action="store_true", help="skip the decoder comparison")
    parser.add_argument("--skip-bound", action="store_true", help="skip model-only and worker")
    parser.add_argument("--model-warmup", type=int, default=1, help="untimed batches (1)")
    parser.add_argument("--model-iters", type=int, default=3, help="timed batches (3)")
    parser.add_argument("--skip-cold", action="store_true", help="skip the camera-size CLI runs")
    parser.add_argument("--skip-noop-10k", action="store_true", help="skip the many-file no-op")
    parser.add_argument("--noop-files", type=int, default=10_000)
    parser.add_argument("--noop-size", type=parse_size, default=(64, 48), help="WxH (64x48)")
    parser.add_argument("--noop-runs", type=int, default=3, help="timed no-op runs (3)")
    parser.add_argument("--skip-rss", action="store_true", help="skip the RSS growth runs")
    parser.add_argument(
        "--rss-files", type=parse_counts, default=[1000, 5000], help="comma-separated (1000,5000)"
    )
    parser.add_argument("--rss-size", type=parse_size, default=(640, 480), help="WxH (640x480)")
    args = parser.parse_args()
    env = dict(os.environ)
    if args.precision is not None:
        env["SEARCHAPP_PRECISION"] = args.precision
    launcher = None if args.decode_only else Launcher(env)  # first, while this process is small
    try:
        measure(args, env, launcher)
    finally:
        if launcher is not None:
            launcher.close()


def measure(args: argparse.Namespace, env: dict[str, str], launcher: Launcher | None) -> None:
    cache = args.cache_dir.expanduser().resolve()
    width, height = args.size
    library = cache / f"lib-{width}x{height}-q{args.quality}-seed{args.seed}-n{args.n}"
    started = time.perf_counter()
    paths = make_library(library, args.n, args.seed, args.size, quality=args.quality)
    log(f"library ready: {len(paths)} photos in {library} ({time.perf_counter() - started:.1f} s)")
    wanted = set(paths)
    unexpected = [  # the CLI indexes the whole folder
        p for p in library.rglob("*") if p.suffix.lower() in {".jpg", ".jpeg"} and p not in wanted
    ]
    if unexpected:
        log(f"warning: {len(unexpected)} extra files under {library} will be indexed too")

    requested = env.get("SEARCHAPP_PRECISION", "auto")
    result: dict[str, Any] = {
        "model": args.model,
        "precision": None,
        "n_images": len(paths),
        "image_size": f"{width}x{height}",
        "cores": usable_cores(),
        # the headline numbers, filled in below (None: skipped or failed)
        "model_only_images_per_s": None,
        "model_core_ms_per_image": None,
        "decode_core_ms_per_image": None,
        "bound_images_per_s": None,
        "index_seconds": None,
        "images_per_s": None,
        "steady_images_per_s": None,
        "ratio_to_bound": None,
        "whole_process_ratio_to_bound": None,
        "noop_reindex_seconds": None,
        "peak_rss_mib": None,
        "library": str(library),
        "library_mib": round(sum(p.stat().st_size for p in paths) / 2**20, 1),
        "command": None,
    }
    if not args.skip_decode:
        log(f"decode costs over {min(args.decode_samples, len(paths))} files")
        result["decode"] = decode_costs(
            paths, args.decode_samples, args.draft_size, args.turbojpeg_lib
        )
        log(f"  {result['decode']}")
    if launcher is None:  # --decode-only
        result["machine"] = machine_info()
        emit(result)
        return

    result["precision"] = resolved_precision(requested)
    device, precision = device_and_precision(requested)
    args.model_batch = args.batch_size or default_batch_size(device)
    if not args.skip_bound:
        result.update(bound(paths, device, precision, args))
    if not args.skip_cold:
        checkpoint = random_checkpoint(args.model, cache / "checkpoints")
        result.update(camera_runs(library, len(paths), checkpoint, launcher, args))
    rate, limit = result["images_per_s"], result["bound_images_per_s"]
    if limit:
        if result["steady_images_per_s"]:
            result["ratio_to_bound"] = round(result["steady_images_per_s"] / limit, 3)
        if rate:
            result["whole_process_ratio_to_bound"] = round(rate / limit, 3)
    if not args.skip_noop_10k:
        result.update(noop_many(cache, launcher, args))
    if not args.skip_rss and args.rss_files:
        result.update(rss_growth(cache, launcher, args))
    # the least peak RSS any measured child can report (see Launcher); should be ~30-60 MiB
    result["launcher_peak_rss_mib"] = launcher.peak_rss_mib()
    result["machine"] = machine_info(with_torch=True)
    emit(result)


def default_batch_size(device: str) -> int:
    """The pipeline's default batch for `device` (32 on CPU)."""
    from indexer.pipeline import default_batch_size as pipeline_default

    return pipeline_default(device)


if __name__ == "__main__":
    main()
