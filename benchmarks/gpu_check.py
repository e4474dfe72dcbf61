"""The GPU check: one prepared run for a CUDA machine that installs the project from this working
tree, runs the CUDA tests and measures the GPU paths, printing one JSON document on stdout
(progress on stderr). README, "Performance on a GPU", says how to run it.

Parts, each in a process of its own under its own time limit, inside a total budget (470 s by
default, so that the run fits in 8 minutes of device time):

  install   pip install ".[gpu]" from the working tree (offline from .whl/ when it is there; the
            base install if the extra cannot be had), then what the machine offers: torch, the
            GPU, faiss and its GPUs, transformers, bitsandbytes
  library   (in the background from the start) 2,000 camera-size JPEGs, gpu_index.py
  pytest    pytest -m cuda over the test files that hold CUDA tests; on a GPU a skip fails
  index     searchapp index end to end and the model alone, per architecture, nvJPEG on and off
  vectors   faiss (GPU) flat and IVF over 1M and 10M synthetic 512-d vectors, gpu_vectors.py
  captions  a LLaVA-1.5-7B-class model with random weights, alone and through searchapp.vlm,
            gpu_captions.py; skipped while searchapp/vlm does not exist

A part that fails or runs out of time is reported with what it had measured, and the run goes
on; the exit status is 1 when a part failed. `--dry-run` runs every part at toy size on the CPU
(no install; pytest only collects; five times the time limits), to check the script on any
machine before device time is spent on it. `--out FILE` (default $OUT/gpu_check.json where
$OUT is set) holds the document as it grows, so even a run killed from outside leaves the parts
it finished.

    bash benchmarks/gpu_check.sh             # on the GPU machine
    bash benchmarks/gpu_check.sh --dry-run   # anywhere
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.metadata
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
import traceback
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import PartFailed, ResultFile, emit, log, machine_info

ROOT = Path(__file__).resolve().parent.parent
NVIDIA_DRIVER = Path("/proc/driver/nvidia/version")
PARTS = ("install", "library", "pytest", "index", "vectors", "captions")
LIMITS_S = {
    "install": 60,
    "library": 150,
    "pytest": 90,
    "index": 140,
    "vectors": 80,
    "captions": 100,
}
CUDA_MARK = re.compile(r"^\s*(@pytest\.mark\.cuda\b|pytestmark\b.*\bmark\.cuda\b)", re.MULTILINE)
BUDGET_S = 470.0
DRY_RUN_SLACK = 5  # a dry run checks the script on any CPU, loaded or slow, not its timings
BACKGROUND = ("library",)  # started at once; the index part waits for it
PART_REQUIRES = {"index": "library"}


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--dry-run", action="store_true", help="every part at toy size, on CPU")
    parser.add_argument("--parts", default=",".join(PARTS), help="comma-separated subset")
    parser.add_argument(
        "--limit",
        action="append",
        default=[],
        metavar="PART=SECONDS",
        help="override one part's time limit (repeatable)",
    )
    parser.add_argument(
        "--budget", type=float, default=None, help="seconds for all parts (470; dry run: x5)"
    )
    parser.add_argument("--out", type=Path, default=None, help="the JSON, kept up to date")
    parser.add_argument("--work-dir", type=Path, default=None, help="library, checkpoints, logs")
    parser.add_argument(
        "--models", default=None, help="open_clip architectures (ViT-B-32,ViT-L-14)"
    )
    parser.add_argument("--photos", type=int, default=None, help="library size (2000)")
    parser.add_argument("--distinct", type=int, default=None, help="drawn photos in it (128)")
    parser.add_argument("--vectors", default=None, help="index sizes (1000000,10000000)")
    parser.add_argument(
        "--captions-without-vlm",
        action="store_true",
        help="measure the captioning architecture even before searchapp/vlm exists",
    )
    parser.add_argument("--part", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--part-out", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    toy = args.dry_run
    args.models = args.models or ("tiny" if toy else "ViT-B-32,ViT-L-14")
    args.photos = args.photos or (6 if toy else 2000)
    args.distinct = args.distinct or (2 if toy else 128)
    args.photo_size = (640, 480) if toy else (4000, 3000)
    args.vectors = args.vectors or ("2000,5000" if toy else "1000000,10000000")
    args.queries = 100 if toy else 1000
    args.device = "cpu" if toy else "cuda"
    if args.budget is None:
        args.budget = BUDGET_S * (DRY_RUN_SLACK if toy else 1)
    args.work_dir = (args.work_dir or Path("/tmp/searchapp-gpu-check")).resolve()
    if args.out is None and os.environ.get("OUT"):
        args.out = Path(os.environ["OUT"]) / "gpu_check.json"
    return args


# ---------------------------------------------------------------------------------------------
# the parts that need no module of their own


def install(args: argparse.Namespace, result: ResultFile) -> None:
    if args.dry_run:
        result.set("install", "not run in a dry run: the environment is used as it is")
    else:
        wheels = ROOT / ".whl"
        attempts: list[dict[str, Any]] = []
        for target in (".[gpu]", "."):
            command = [sys.executable, "-m", "pip", "install", "-q", "--disable-pip-version-check"]
            if wheels.is_dir():
                command += ["--no-index", "--find-links", str(wheels)]
            run = subprocess.run([*command, target], cwd=ROOT, capture_output=True, text=True)
            attempts.append({"command": shlex.join([*command, target]), "rc": run.returncode})
            if run.returncode:
                attempts[-1]["output_tail"] = (run.stdout + run.stderr)[-800:]
            result.set("attempts", attempts)
            if run.returncode == 0:
                result.set("installed", target)
                break
        else:
            raise PartFailed("pip could not install the project (attempts: see output_tail)")
    result.update(environment())


def environment() -> dict[str, Any]:
    """What this machine offers the GPU paths; each entry says why when it is missing."""
    # the app decodes JPEGs with nvJPEG only where this file exists (indexer.device_decode)
    found: dict[str, Any] = {"nvidia_driver_file": NVIDIA_DRIVER.exists()}

    def probe(name: str, fetch: Any) -> None:
        try:
            found[name] = fetch()
        except Exception as exc:
            found[name] = f"unavailable: {type(exc).__name__}: {exc}"[:300]

    def torch_info() -> dict[str, Any]:
        import torch

        info: dict[str, Any] = {"version": torch.__version__, "cuda": torch.version.cuda}
        info["cuda_available"] = torch.cuda.is_available()
        if info["cuda_available"]:
            props = torch.cuda.get_device_properties(0)
            info["gpu"] = props.name
            info["gpu_memory_gib"] = round(props.total_memory / 2**30, 1)
            info["compute_capability"] = f"{props.major}.{props.minor}"
        return info

    def faiss_info() -> dict[str, Any]:
        import faiss

        gpus = faiss.get_num_gpus() if hasattr(faiss, "get_num_gpus") else 0
        return {"version": faiss.__version__, "gpus": gpus}

    probe("torch", torch_info)
    probe("faiss", faiss_info)
    for name in ("torchvision", "open_clip_torch", "transformers", "bitsandbytes", "nvidia-ml-py"):
        probe(name, lambda name=name: importlib.metadata.version(name))
    return found


def cuda_tests(args: argparse.Namespace, result: ResultFile) -> None:
    """`pytest -m cuda`, on the test files that mark CUDA tests (collecting the others would
    need every test dependency on the GPU machine). A dry run only collects them."""
    files = sorted(
        str(path.relative_to(ROOT))
        for path in (ROOT / "tests").glob("test_*.py")
        if CUDA_MARK.search(path.read_text(encoding="utf-8"))
    )
    if not files:
        raise PartFailed("no test file under tests/ marks a test with @pytest.mark.cuda")
    junit = args.work_dir / "cuda-tests.xml"
    command = [sys.executable, "-m", "pytest", "-m", "cuda", "-q", "-p", "no:cacheprovider"]
    command += ["--collect-only"] if args.dry_run else ["-rA", f"--junitxml={junit}"]
    command += files
    result.update({"files": files, "command": shlex.join(command)})
    run = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    sys.stderr.write(run.stdout[-3000:] + run.stderr[-2000:])
    result.set("rc", run.returncode)
    if args.dry_run:
        selected = [line for line in run.stdout.splitlines() if "::" in line]
        result.update({"selected": len(selected), "tests": selected})
        if run.returncode or not selected:
            raise PartFailed(f"pytest -m cuda selected {len(selected)} tests (rc {run.returncode})")
        return
    counts = junit_counts(junit) if junit.is_file() else {}
    result.update(counts)
    if run.returncode or not counts.get("tests") or counts.get("skipped"):
        raise PartFailed(
            f"CUDA tests: {counts or 'no report'}, rc {run.returncode}; on a GPU none may skip"
        )


def junit_counts(path: Path) -> dict[str, Any]:
    import xml.etree.ElementTree as ET

    suite = ET.parse(path).getroot()
    suite = suite if suite.tag == "testsuite" else suite[0]
    counts: dict[str, Any] = {k: int(suite.get(k, 0)) for k in ("tests", "failures", "errors")}
    counts["skipped"] = int(suite.get("skipped", 0))
    counts["not_passed"] = [
        f"{case.get('name')}: {child.tag}: {(child.get('message') or '')[:200]}"
        for case in suite.iter("testcase")
        for child in case
        if child.tag in ("failure", "error", "skipped")
    ]
    return counts


def run_part(name: str, args: argparse.Namespace) -> None:
    """In the part's own process: measure, and leave the results in --part-out."""
    result = ResultFile(args.part_out)
    try:
        if name == "install":
            install(args, result)
        elif name == "pytest":
            cuda_tests(args, result)
        elif name in ("library", "index"):
            import gpu_index

            (gpu_index.prepare_library if name == "library" else gpu_index.measure)(args, result)
        elif name == "vectors":
            import gpu_vectors

            gpu_vectors.measure(args, result)
        elif name == "captions":
            import gpu_captions

            gpu_captions.measure(args, result)
        else:
            raise PartFailed(f"unknown part {name!r}")
    except PartFailed as exc:
        log(f"{name}: failed: {exc}")
        result.set("error", str(exc))
        sys.exit(1)
    except (Exception, SystemExit) as exc:
        traceback.print_exc()
        result.set("error", f"{type(exc).__name__}: {exc}"[:1000])
        sys.exit(1)


# ---------------------------------------------------------------------------------------------
# the orchestration


class PartProcess:
    """One part running in its own process session, stopped with all its children when its time
    limit is up (also while it runs in the background)."""

    def __init__(self, name: str, argv: list[str], work_dir: Path, limit_s: float) -> None:
        self.name, self.limit_s = name, limit_s
        self.out = work_dir / f"part-{name}.json"
        self.out.unlink(missing_ok=True)
        command = [sys.executable, str(Path(__file__).resolve()), *argv]
        command += ["--part", name, "--part-out", str(self.out)]
        log(f"== {name}")
        self.started = time.perf_counter()
        self.process = subprocess.Popen(
            command, cwd=ROOT, stdout=sys.stderr, start_new_session=True
        )
        self.timed_out = threading.Event()
        self._timer = threading.Timer(max(0.0, limit_s), self._stop)
        self._timer.start()

    def _stop(self) -> None:
        if self.process.poll() is None:
            self.timed_out.set()
            os.killpg(self.process.pid, signal.SIGKILL)

    def finish(self) -> dict[str, Any]:
        """Wait for the part to end (by itself or at its limit); its results, with its status."""
        self.process.wait()
        self._timer.cancel()
        seconds = round(time.perf_counter() - self.started, 1)
        try:
            data = json.loads(self.out.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            data = {}
        status = "ok"
        if self.timed_out.is_set():
            status = "timed_out"
            data["error"] = f"stopped at its time limit of {self.limit_s:.0f} s"
        elif self.process.returncode:
            status = "failed"
            data.setdefault("error", f"exit status {self.process.returncode}")
        elif "skipped" in data:
            status = "skipped"
        why = data.get("error") or data.get("skipped")
        log(f"== {self.name}: {status} in {seconds} s" + (f": {why}" if why else ""))
        return {"status": status, "seconds": seconds, "limit_s": round(self.limit_s, 1), **data}


def part_limits(args: argparse.Namespace) -> dict[str, float]:
    slack = DRY_RUN_SLACK if args.dry_run else 1
    limits = {name: float(seconds * slack) for name, seconds in LIMITS_S.items()}
    for item in args.limit:
        name, _, seconds = item.partition("=")
        if name not in limits:
            raise SystemExit(f"--limit {item}: no part {name!r} (parts: {', '.join(PARTS)})")
        limits[name] = float(seconds)
    return limits


def orchestrate(args: argparse.Namespace, argv: list[str]) -> int:
    wanted = [part.strip() for part in args.parts.split(",") if part.strip()]
    unknown = sorted(set(wanted) - set(PARTS))
    if unknown:
        raise SystemExit(f"--parts: unknown {', '.join(unknown)} (parts: {', '.join(PARTS)})")
    if not args.dry_run and not (NVIDIA_DRIVER.exists() or shutil.which("nvidia-smi")):
        raise SystemExit(
            "gpu_check: no NVIDIA GPU here (no /proc/driver/nvidia/version, no nvidia-smi); it "
            "would install the project into this Python. Use --dry-run to check it on a CPU."
        )
    wanted += [PART_REQUIRES[p] for p in wanted if PART_REQUIRES.get(p) not in (None, *wanted)]
    limits = part_limits(args)
    args.work_dir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    document: dict[str, Any] = {
        "gpu_check": "searchapp",
        "mode": "dry-run (toy sizes, CPU)" if args.dry_run else "full (CUDA)",
        "started_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "budget_s": args.budget,
        "sizes": {
            "models": args.models.split(","),
            "photos": args.photos,
            "photo_size": "{}x{}".format(*args.photo_size),
            "vectors": [int(n) for n in args.vectors.split(",")],
        },
        "ok": None,
        "failed_parts": [],
        "parts": {},
        "machine": machine_info(),
    }

    def save() -> None:
        document["seconds"] = round(time.perf_counter() - started, 1)
        if args.out is not None:
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")

    def record(name: str, outcome: dict[str, Any]) -> None:
        document["parts"][name] = outcome
        if outcome["status"] in ("failed", "timed_out"):
            document["failed_parts"].append(name)
        save()

    background = {
        name: PartProcess(name, argv, args.work_dir, min(limits[name], args.budget))
        for name in BACKGROUND
        if name in wanted
    }
    for name in (part for part in PARTS if part in wanted and part not in BACKGROUND):
        required = PART_REQUIRES.get(name)
        if required in background:
            record(required, background.pop(required).finish())
        left = args.budget - (time.perf_counter() - started)
        if left < 5:
            record(name, {"status": "skipped", "seconds": 0, "skipped": "no time left in budget"})
            continue
        record(name, PartProcess(name, argv, args.work_dir, min(limits[name], left)).finish())
    for name, process in background.items():  # a background part nothing waited for
        record(name, process.finish())
    document["ok"] = not document["failed_parts"]
    save()
    emit(document)
    return 0 if document["ok"] else 1


def main() -> None:
    argv = sys.argv[1:]
    args = parse_args(argv)
    if args.part is not None:
        run_part(args.part, args)
        return
    sys.exit(orchestrate(args, argv))


if __name__ == "__main__":
    main()
