"""A library that runs `--precision int8` embeds its labels with the int8 text tower (cached
apart from fp32's), close to the fp32 embeddings; any other precision embeds them in fp32."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from searchapp.config import Settings
from searchapp.models.base import ModelSpec
from searchapp.models.onnx_quantize import INT8_MIN_COSINE
from searchapp.service import IndexRequest, LibraryService
from searchapp.store.tag_store import LabelBank
from searchapp.tagging.tagger import Tagger
from tests.conftest import TinyModel

LABELS = ("red", "green", "a dog", "a beach at sunset", "a birthday cake")
TEMPLATES = ("a photo of {}.", "a blurry photo of {}.")


def _bank(data_dir: Path, precision: str) -> tuple[str, LabelBank]:
    settings = Settings(data_dir=data_dir, precision=precision, runtime="onnx")  # type: ignore[arg-type]
    with LibraryService(settings) as service:
        model = service.store.active_model()
        assert model is not None
        return service.library.label_precision(model), Tagger(service.library, model).label_bank(
            LABELS, TEMPLATES
        )


def test_an_int8_library_embeds_labels_in_int8_close_to_fp32(
    tiny_model: TinyModel, photo_dir: Path, data_dir: Path
) -> None:
    spec = ModelSpec(tiny_model.name, str(tiny_model.checkpoint), tiny_model.config_path)
    settings = Settings(data_dir=data_dir, precision="int8", runtime="onnx")  # type: ignore[arg-type]
    with LibraryService(settings) as service:
        service.index([photo_dir], IndexRequest(spec, tag=False))

    fp32_precision, fp32 = _bank(data_dir, "fp32")
    int8_precision, int8 = _bank(data_dir, "int8")

    assert (fp32_precision, int8_precision) == ("fp32", "int8")
    assert fp32.fingerprint != int8.fingerprint
    assert not np.array_equal(fp32.vectors, int8.vectors)
    assert np.sum(fp32.vectors * int8.vectors, axis=1).min() >= INT8_MIN_COSINE
