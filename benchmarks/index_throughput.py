"""End-to-end indexing throughput of the real CLI on camera-size JPEGs, plus JPEG decode costs.

1. Generates (or reuses, under --cache-dir) a deterministic library of N photos (4000x3000 JPEG
   q90, 2-5 MB each, some with EXIF rotation, nested folders); see synthetic_library.py.
2. Measures single-threaded decode cost per 4000x3000 JPEG (median over ~20 files held in memory):
   PIL full decode, PIL draft to the model input size, simplejpeg and PyTurboJPEG at scale 1/8
   when importable, and the app's own `searchapp.decode.decode_image`.
3. Makes a random-weight checkpoint of --model (same compute as the pretrained weights).
4. Times the WHOLE process `searchapp --data-dir <fresh tmp> index <lib> --model M
   --pretrained <ckpt>` (wall time: interpreter start, imports, model load, decode, embed, store,
   FAISS) and its peak RSS (os.wait4 of that one child), then a no-op re-index of the same library.

"foreign_cpu_s" is CPU time other processes used meanwhile: near 0 means clean numbers. The
library is read from the page cache (it was just generated or read), as on a warm second run.

    python benchmarks/index_throughput.py                 # full size: 200 photos
    python benchmarks/index_throughput.py --n 8           # smoke test
    python benchmarks/index_throughput.py --decode-only   # only step 1 and 2
"""

from __future__ import annotations

import argparse
import io
import os
import re
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import emit, log, machine_busy_seconds, machine_info
from make_random_checkpoint import random_checkpoint
from synthetic_library import DEFAULT_SIZE, make_library, parse_size

DEFAULT_CACHE = Path("~/.cache/searchapp-bench")
SUMMARY_RE = re.compile(
    r"Indexed (?P<indexed>\d+) \((?P<embedded>\d+) embedded, (?P<linked>\d+) .*?unchanged "
    r"(?P<unchanged>\d+), removed (?P<removed>\d+),? failed (?P<failed>\d+) in "
    r"(?P<seconds>[\d.]+) s"
)


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
        "wall_s": wall,
        "peak_rss_mib": round(usage.ru_maxrss / 1024, 1),  # Linux: KiB
        "cpu_s": round(cpu, 2),
        "foreign_cpu_s": round(max(0.0, busy - cpu), 2),
        "stdout": stdout,
        "stderr": stderr,
    }


def parse_summary(stdout: str) -> dict[str, float] | None:
    match = SUMMARY_RE.search(" ".join(stdout.split()))  # undo rich's line wrapping
    if match is None:
        return None
    return {
        key: float(value) if key == "seconds" else int(value)
        for key, value in match.groupdict().items()
    }


def resolved_precision(requested: str) -> str:
    """What the CLI will use: the repo's own device/precision choice, with the same env vars."""
    try:
        from searchapp.models.precision import choose_device, choose_precision

        device = choose_device(os.environ.get("SEARCHAPP_DEVICE", "auto"))
        return f"{choose_precision(device, requested)} ({device})"
    except Exception as exc:
        return f"{requested} (could not resolve: {type(exc).__name__})"


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
        help="sets SEARCHAPP_PRECISION for the CLI (default: inherit, i.e. auto)",
    )
    parser.add_argument("--batch-size", type=int, default=None, help="passed to `index`")
    parser.add_argument("--workers", type=int, default=None, help="passed to `index`")
    parser.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE)
    parser.add_argument("--keep-data-dir", action="store_true", help="do not delete the tmp DB")
    parser.add_argument("--decode-samples", type=int, default=20)
    parser.add_argument(
        "--draft-size", type=int, default=256, help="PIL draft target (default 256)"
    )
    parser.add_argument("--turbojpeg-lib", default=None, help="path of libturbojpeg.so (>= 3.0)")
    parser.add_argument("--decode-only", action="store_true", help="skip the CLI runs")
    parser.add_argument("--skip-decode", action="store_true", help="skip the decode costs")
    args = parser.parse_args()

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

    result: dict[str, Any] = {
        "model": args.model,
        "precision": None,
        "n_images": len(paths),
        "image_size": f"{width}x{height}",
        "library": str(library),
        "library_mib": round(sum(p.stat().st_size for p in paths) / 2**20, 1),
        "index_seconds": None,
        "images_per_s": None,
        "noop_reindex_seconds": None,
        "peak_rss_mib": None,
        "command": None,
    }
    if not args.skip_decode:
        log(f"decode costs over {min(args.decode_samples, len(paths))} files")
        result["decode"] = decode_costs(
            paths, args.decode_samples, args.draft_size, args.turbojpeg_lib
        )
        log(f"  {result['decode']}")
    if args.decode_only:
        result["machine"] = machine_info()
        emit(result)
        return

    checkpoint = random_checkpoint(args.model, cache / "checkpoints")
    env = dict(os.environ)
    if args.precision is not None:
        env["SEARCHAPP_PRECISION"] = args.precision
    result["precision"] = resolved_precision(env.get("SEARCHAPP_PRECISION", "auto"))

    data_dir = Path(tempfile.mkdtemp(prefix="searchapp-bench-data-"))
    rerun_command = [*searchapp_command(), "--data-dir", str(data_dir), "index", str(library)]
    command = [*rerun_command, "--model", args.model, "--pretrained", str(checkpoint)]
    if args.batch_size:
        command += ["--batch-size", str(args.batch_size)]
    if args.workers:
        command += ["--workers", str(args.workers)]
    result["command"] = shlex.join(command)
    try:
        log(f"cold index: {result['command']}")
        cold = run_measured(command, env)
        if cold["returncode"] != 0:
            log(cold["stdout"] + cold["stderr"])
            raise SystemExit(f"index failed with exit status {cold['returncode']}")
        summary = parse_summary(cold["stdout"])
        result["index_seconds"] = round(cold["wall_s"], 2)
        result["images_per_s"] = round(len(paths) / cold["wall_s"], 2)
        result["peak_rss_mib"] = cold["peak_rss_mib"]
        result["index_cpu_s"] = cold["cpu_s"]
        result["index_foreign_cpu_s"] = cold["foreign_cpu_s"]
        result["index_summary"] = summary
        if summary:
            # the CLI's own timer: scan, decode, embed, write; not imports, model load, FAISS
            result["pipeline_seconds"] = summary["seconds"]
            result["outside_pipeline_seconds"] = round(cold["wall_s"] - summary["seconds"], 2)
            if summary["embedded"] != len(paths) or summary["failed"]:
                log(f"warning: expected {len(paths)} embedded, got {summary}")
        else:
            log(f"warning: could not parse the CLI summary from: {cold['stdout'][-500:]!r}")
        log(
            f"  {result['index_seconds']} s, {result['images_per_s']} images/s, "
            f"peak RSS {result['peak_rss_mib']} MiB, foreign CPU {cold['foreign_cpu_s']} s"
        )

        log(f"no-op re-index: {shlex.join(rerun_command)}")
        noop = run_measured(rerun_command, env)
        if noop["returncode"] != 0:
            log(noop["stdout"] + noop["stderr"])
            raise SystemExit(f"re-index failed with exit status {noop['returncode']}")
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
    result["machine"] = machine_info(with_torch=True)
    emit(result)


if __name__ == "__main__":
    main()
