"""What `--precision auto` runs on a CPU: ONNX Runtime in int8 where the CPU has no native bf16
(its rankings agree with fp32 on trained models; README), in fp32 where torch bf16 competes;
int8 towers too far from fp32 fall back to fp32."""

from __future__ import annotations

from pathlib import Path

import pytest

import searchapp.models.runtime as runtime
from searchapp.config import Settings
from searchapp.models.base import ModelSpec
from searchapp.models.registry import load_embedder
from searchapp.models.runtime import RuntimeLoader
from tests.conftest import TinyModel


def _loader(tiny: TinyModel, cache: Path, runtime_name: str) -> RuntimeLoader:
    spec = ModelSpec(tiny.name, str(tiny.checkpoint), tiny.config_path)
    identity = load_embedder(spec, Settings(device="cpu", precision="fp32")).identity
    settings = Settings(device="cpu", precision="auto", runtime=runtime_name, cache_dir=cache)  # type: ignore[arg-type]
    return RuntimeLoader(spec, settings, identity)


@pytest.mark.parametrize(
    ("native_bf16", "measured"),
    [(False, {"torch fp32", "onnx int8"}), (True, {"torch bf16", "onnx fp32"})],
)
def test_calibration_measures_int8_only_on_cpus_without_native_bf16(
    tiny_model: TinyModel,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    native_bf16: bool,
    measured: set[str],
) -> None:
    monkeypatch.setattr(runtime, "cpu_has_native_bf16", lambda: native_bf16)
    loader = _loader(tiny_model, tmp_path / "cache", "auto")

    embedder = loader.load()

    assert loader.choice is not None and loader.choice.source == "calibration"
    assert set(loader.choice.images_per_s) == measured
    assert loader.choice.label in measured
    ran = f"{getattr(embedder, 'runtime', 'torch')} {embedder.precision}"
    assert ran == loader.choice.label


def test_onnx_without_a_precision_runs_int8_on_cpus_without_native_bf16(
    tiny_model: TinyModel, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(runtime, "cpu_has_native_bf16", lambda: False)

    embedder = _loader(tiny_model, tmp_path / "cache", "onnx").load()

    assert embedder.precision == "int8"


def test_automatic_int8_falls_back_to_fp32_when_its_towers_are_refused(
    tiny_model: TinyModel, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(runtime, "cpu_has_native_bf16", lambda: False)
    monkeypatch.setattr("searchapp.models.onnx_quantize.INT8_MIN_COSINE", 1.5)
    loader = _loader(tiny_model, tmp_path / "cache", "onnx")

    embedder = loader.load()

    assert embedder.precision == "fp32"
    assert loader.choice is not None and loader.choice.label == "onnx fp32"
