"""An index run that holds the model in torch bf16 embeds the vocabulary with it (close to fp32);
later commands, which would compute fp32 on the exported tower, use that bank instead of
embedding the labels again."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from searchapp.config import Settings
from searchapp.models.base import ModelSpec
from searchapp.service import IndexRequest, LibraryService
from searchapp.tagging.tagger import Tagger, label_bank_fingerprint
from searchapp.tagging.vocabulary import DEFAULT_VOCABULARY
from tests.conftest import TinyModel


def test_a_bf16_index_run_embeds_labels_with_its_model_and_later_commands_reuse_them(
    tiny_model: TinyModel, photo_dir: Path, data_dir: Path, tmp_path: Path
) -> None:
    spec = ModelSpec(tiny_model.name, str(tiny_model.checkpoint), tiny_model.config_path)
    cache = tmp_path / "own-cache"
    torch_bf16 = Settings(data_dir=data_dir, cache_dir=cache, runtime="torch", precision="bf16")
    with LibraryService(torch_bf16) as service:
        report = service.index([photo_dir], IndexRequest(spec))
        assert report.runtime == "torch bf16"
        assert not service.library.model_loaded  # released once the labels were embedded

    later = Settings(data_dir=data_dir, cache_dir=cache, runtime="onnx", precision="fp32")
    with LibraryService(later) as service:
        model = service.store.active_model()
        assert model is not None
        vocabulary = service.store.tags.vocabulary(DEFAULT_VOCABULARY)
        assert vocabulary is not None
        stored = service.store.tags.label_bank(vocabulary.id, model.id)
        assert stored is not None
        labels, templates = vocabulary.labels, vocabulary.templates
        assert stored.fingerprint == label_bank_fingerprint(model, labels, templates, "bf16")
        tagger = Tagger(service.library, model)
        assert service.library.label_precision(model) == "fp32"
        reused = tagger.label_bank(labels, templates, vocabulary.id)
        fresh = tagger.label_bank(labels, templates)  # no vocabulary: nothing stored to reuse

    assert reused.fingerprint == stored.fingerprint
    assert fresh.fingerprint == stored.fingerprint  # the user cache holds the bf16 bank too
    fp32_cache = tmp_path / "fp32-cache"
    fp32 = Settings(data_dir=data_dir, cache_dir=fp32_cache, runtime="onnx", precision="fp32")
    with LibraryService(fp32) as service:
        model = service.store.active_model()
        assert model is not None
        computed = Tagger(service.library, model).label_bank(labels, templates)
    assert computed.fingerprint == label_bank_fingerprint(model, labels, templates, "fp32")
    vectors = stored.vectors.reshape(computed.vectors.shape)
    assert not np.array_equal(vectors, computed.vectors)
    assert np.sum(vectors * computed.vectors, axis=1).min() >= 0.999
