"""The prepared GPU check (benchmarks/gpu_check.sh) in its dry run: every part runs at toy size
on the CPU and reports in one JSON document; a part that fails or runs out of time is reported
with what it measured, and the parts after it still run."""

from __future__ import annotations

import argparse
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def dry_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[int, dict[str, Any], Path]:
    """One dry run with two failures planted: an architecture that does not exist (the index
    part fails after measuring the tiny model) and a zero time limit for the background library
    (it is stopped; the index part makes the library itself)."""
    work = tmp_path_factory.mktemp("gpu-check")
    command = ["bash", "benchmarks/gpu_check.sh", "--dry-run", "--work-dir", str(work)]
    command += ["--models", "tiny,no-such-architecture", "--limit", "library=0"]
    command += ["--captions-without-vlm", "--out", str(work / "gpu_check.json")]
    run = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert run.stdout.strip(), run.stderr[-3000:]
    return run.returncode, json.loads(run.stdout), work / "gpu_check.json"


def test_dry_run_prints_one_document_with_every_part(
    dry_run: tuple[int, dict[str, Any], Path],
) -> None:
    _, document, saved = dry_run
    parts = {"install", "library", "pytest", "index", "vectors", "captions"}

    assert set(document["parts"]) == parts
    assert document["mode"].startswith("dry-run")
    assert json.loads(saved.read_text()) == document


def test_dry_run_measures_indexing_vectors_and_captions_at_toy_size(
    dry_run: tuple[int, dict[str, Any], Path],
) -> None:
    parts = dry_run[1]["parts"]

    tiny = parts["index"]["models"]["tiny"]
    for nvjpeg in ("nvjpeg_on", "nvjpeg_off"):
        assert tiny[nvjpeg]["embedded"] == 6 and tiny[nvjpeg]["images_per_s"] > 0
        assert tiny[nvjpeg]["cpu_cores_used"] > 0 and "gpu_memory_peak_mib" in tiny[nvjpeg]
        assert tiny[nvjpeg]["nvjpeg_used"] is False  # no GPU here
    assert tiny["model_only"]["model_only_images_per_s"] > 0
    for size in ("2000", "5000"):
        measured = parts["vectors"]["sizes"][size]
        assert measured["flat"]["recall_at_10"] >= 0.999  # exact; fp32 sums may swap a tie
        assert 0 < measured["ivf"]["recall_at_10"] <= 1.0
        for engine in ("torch_exact", "flat", "ivf"):
            assert measured[engine]["p50_ms_batch_1"] > 0
            assert measured[engine]["p50_ms_batch_64"] > 0
    assert parts["vectors"]["status"] == "ok"
    assert parts["captions"]["status"] == "ok"
    for measured in (parts["captions"]["fp32"], parts["captions"]["app_fp32"]):
        assert measured["tokens_per_s"] > 0 and measured["new_tokens"] == 8
    assert parts["captions"]["fp32"]["time_to_first_token_s"] > 0
    assert parts["captions"]["app_fp32"]["time_to_first_text_s"] > 0
    assert "CUDA GPU and bitsandbytes" in parts["captions"]["app_int4"]["skipped"]


def test_failing_and_timed_out_parts_are_reported_and_the_rest_still_runs(
    dry_run: tuple[int, dict[str, Any], Path],
) -> None:
    returncode, document, _ = dry_run
    parts = document["parts"]

    assert returncode == 1
    assert document["ok"] is False
    assert document["failed_parts"] == ["library", "index"]
    assert parts["library"]["status"] == "timed_out"
    assert "time limit" in parts["library"]["error"]
    assert parts["index"]["status"] == "failed"
    assert "no-such-architecture" in parts["index"]["error"]
    assert "error" in parts["index"]["models"]["no-such-architecture"]
    assert parts["install"]["status"] == parts["pytest"]["status"] == "ok"


def test_the_cuda_marker_selects_the_cuda_tests(dry_run: tuple[int, dict[str, Any], Path]) -> None:
    selected = dry_run[1]["parts"]["pytest"]["tests"]
    marked = sum(
        path.read_text().count("@pytest.mark.cuda\n") for path in (ROOT / "tests").glob("test_*.py")
    )

    assert "tests/test_device_jpeg_decode.py::test_gpu_jpeg_decode_matches_cpu_decode" in selected
    assert len(selected) == marked


def test_captions_are_skipped_with_a_reason_while_the_app_has_no_vlm(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    import gpu_captions
    from _common import ResultFile

    monkeypatch.setattr(gpu_captions, "VLM_PACKAGE", tmp_path / "searchapp" / "vlm")
    result = ResultFile(tmp_path / "captions.json")

    gpu_captions.measure(argparse.Namespace(captions_without_vlm=False), result)

    saved = json.loads((tmp_path / "captions.json").read_text())
    assert list(saved) == ["skipped"]
    assert "searchapp/vlm does not exist" in saved["skipped"]
