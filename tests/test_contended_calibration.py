"""A runtime calibration measured while other processes kept the CPU busy is used for that run
but measured again at the next load; the meter counts a busy neighbour's CPU."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from searchapp.config import Settings
from searchapp.models.base import ModelIdentity
from searchapp.models.cpu_contention import OtherProcessesCpu, machine_busy_seconds
from searchapp.models.runtime import RuntimeChoice, remember_choice, remembered_choice

IDENTITY = ModelIdentity("open_clip", "ViT-B-32", "checkpoint:abc", "0123456789abcdef0123")
SPIN = "import time\nwhile time.process_time() < 0.5:\n    pass\n"


def _settings(tmp_path: Path) -> Settings:
    return Settings(device="cpu", precision="auto", runtime="auto", cache_dir=tmp_path / "cache")  # type: ignore[arg-type]


def test_a_quiet_calibration_is_remembered(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    remember_choice(IDENTITY, settings, RuntimeChoice("torch", "bf16", "calibration", {}, 0.02))

    remembered = remembered_choice(IDENTITY, settings)

    assert remembered is not None and remembered.label == "torch bf16"
    assert remembered.source == "remembered"


def test_a_contended_calibration_is_measured_again(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    choice = RuntimeChoice("onnx", "fp32", "calibration", {}, 1.4, contended=True)
    remember_choice(IDENTITY, settings, choice)

    assert remembered_choice(IDENTITY, settings) is None


def test_a_calibration_recorded_without_its_contention_is_measured_again(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    remember_choice(IDENTITY, settings, RuntimeChoice("onnx", "fp32", "calibration"))
    path = settings.cache_dir / "calibration.json"
    path.write_text(path.read_text().replace('"contended": false', '"older": true'))

    assert remembered_choice(IDENTITY, settings) is None


@pytest.mark.skipif(machine_busy_seconds() is None, reason="needs /proc/stat")
def test_the_cpu_of_a_busy_neighbour_is_counted() -> None:
    with OtherProcessesCpu() as others:
        subprocess.run([sys.executable, "-c", SPIN], check=True)

    assert others.cpu_s >= 0.4
