"""int8 graphs: ONNX Runtime's dynamic quantisation of an export's fp32 towers.

Weights of the matrix products become int8 (activations are quantised per batch at run time);
the fp32 graph stays. Each int8 tower is compared with its fp32 tower on check inputs and kept
only when its vectors stay within `INT8_MIN_COSINE` of fp32's (the documented bound; the
measured value is recorded in the manifest).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from searchapp.models.export_cache import Manifest, int8_name, write_manifest
from searchapp.models.onnx_embedder import OnnxImageEncoder, OnnxTextEncoder

log = logging.getLogger(__name__)
INT8_MIN_COSINE = 0.98
QUANTISED_OPS = ["MatMul", "Gemm"]
CHECK_TEXTS = ("a photo of a dog", "kids on a beach at sunset", "a red car in the snow")


def _quantise(source: Path, target: Path) -> None:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(
        str(source),
        str(target),
        weight_type=QuantType.QInt8,
        op_types_to_quantize=QUANTISED_OPS,
        use_external_data_format=True,
    )


def _agreement(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.min(np.sum(a * b, axis=1)))


def ensure_int8(manifest: Manifest) -> Manifest:
    """The manifest with int8 towers added (made once, then kept with the export)."""
    data = dict(manifest.data)
    changed = False
    for tower in ("image", "text"):
        section = data.get(tower)
        if not isinstance(section, dict) or "int8_min_cosine" in section:
            continue
        fp32_path = manifest.directory / section["graph"]
        int8_path = manifest.directory / int8_name(section["graph"])
        _quantise(fp32_path, int8_path)
        files = {**data["files"], int8_path.name: {}}
        draft = Manifest(manifest.directory, {**data, "files": files})
        if tower == "image":
            size = int(section["preprocess"]["size"])
            pixels = list(np.random.default_rng(0).standard_normal((4, 3, size, size), np.float32))
            cosine = _agreement(
                OnnxImageEncoder(draft, "fp32").encode_images(pixels),
                OnnxImageEncoder(draft, "int8").encode_images(pixels),
            )
        else:
            cosine = _agreement(
                OnnxTextEncoder(draft, "fp32").encode_texts(CHECK_TEXTS),
                OnnxTextEncoder(draft, "int8").encode_texts(CHECK_TEXTS),
            )
        if cosine < INT8_MIN_COSINE:
            log.warning("int8 %s tower is %.4f from fp32; not using it", tower, cosine)
            int8_path.unlink(missing_ok=True)
        data[tower] = {**section, "int8_min_cosine": round(cosine, 6)}
        changed = True
    if not changed:
        return manifest
    data.pop("files", None)
    return write_manifest(manifest.directory, data)
