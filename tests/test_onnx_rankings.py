"""Indexing and searching on ONNX Runtime: fp32 ranks as open_clip does; int8 stays within its
documented bound (cosine to fp32 ≥ INT8_MIN_COSINE for every vector)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from searchapp.models.onnx_quantize import INT8_MIN_COSINE
from tests.conftest import CliRunner, TinyModel
from tests.reference import ReferenceModel

QUERIES = ["a red circle on a blue background", "kids on a beach"]
EXACT = {"SEARCHAPP_FAST_JPEG_DECODE": "false"}


def _index(cli: CliRunner, tiny: TinyModel, photos: Path, env: dict[str, str]) -> list[Path]:
    out = json.loads(cli("index", str(photos), *tiny.flags, "--json", env=env).stdout)
    assert out["embedded"] == 12
    return sorted(photos.rglob("*.jpg"))


def test_onnx_fp32_search_ranks_as_open_clip(
    cli: CliRunner, tiny_model: TinyModel, photo_dir: Path
) -> None:
    env = {**EXACT, "SEARCHAPP_RUNTIME": "onnx"}
    paths = _index(cli, tiny_model, photo_dir, env)
    reference = ReferenceModel(tiny_model)
    images = reference.images(paths)

    for query in QUERIES:
        scores = images @ reference.texts([query])[0]
        results = json.loads(cli("search", query, "--json", "-k", "12", env=env).stdout)

        order = np.argsort(-scores, kind="stable")
        assert [r["path"] for r in results] == [str(paths[i]) for i in order]
        np.testing.assert_allclose([r["score"] for r in results], scores[order], atol=2e-4)


def test_int8_vectors_stay_within_the_documented_bound_of_fp32(
    cli: CliRunner, tiny_model: TinyModel, photo_dir: Path, data_dir: Path
) -> None:
    from searchapp.store import Store

    env = {**EXACT, "SEARCHAPP_RUNTIME": "onnx", "SEARCHAPP_PRECISION": "int8"}
    paths = _index(cli, tiny_model, photo_dir, env)
    reference = ReferenceModel(tiny_model)
    expected = reference.images(paths)
    store = Store(data_dir / "library.sqlite3")
    try:
        model = store.active_model()
        assert model is not None
        stored = np.stack(
            [
                store.vectors.stored_vector(
                    str(p), p.stat().st_size, p.stat().st_mtime_ns, model.id
                )
                for p in paths
            ]
        )
    finally:
        store.close()

    assert np.sum(stored * expected, axis=1).min() >= INT8_MIN_COSINE
    for query in QUERIES:
        text = reference.texts([query])[0]
        top_fp32 = set(np.argsort(-(expected @ text))[:5])
        top_int8 = set(np.argsort(-(stored @ text))[:5])
        assert len(top_fp32 & top_int8) >= 4


def test_int8_on_torch_is_refused_with_advice(
    cli: CliRunner, tiny_model: TinyModel, photo_dir: Path
) -> None:
    env = {"SEARCHAPP_RUNTIME": "torch", "SEARCHAPP_PRECISION": "int8"}

    out = cli("index", str(photo_dir), *tiny_model.flags, env=env, check=False)

    assert out.returncode != 0
    assert "int8 runs on ONNX Runtime" in out.stderr + out.stdout


def test_bf16_on_onnx_is_refused_with_advice(
    cli: CliRunner, tiny_model: TinyModel, photo_dir: Path
) -> None:
    env = {"SEARCHAPP_RUNTIME": "onnx", "SEARCHAPP_PRECISION": "bf16"}

    out = cli("index", str(photo_dir), *tiny_model.flags, env=env, check=False)

    assert out.returncode != 0
    assert "ONNX Runtime here runs fp32 or int8" in out.stderr + out.stdout
