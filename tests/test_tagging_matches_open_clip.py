"""Tags and `classify` scores equal a direct open_clip computation, prompt ensemble included."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from numpy.typing import NDArray

from searchapp.tagging.vocabulary import default_templates
from tests.conftest import TINY_CONFIG, CliRunner, TinyModel
from tests.photos import make_photo
from tests.reference import ReferenceModel

EXACT = {"SEARCHAPP_FAST_JPEG_DECODE": "false"}
LABELS = ["dog", "cat", "beach at sunset", "birthday cake", "snowy mountains", "receipt"]
TEMPLATES = ["a photo of {}.", "a blurry photo of {}.", "art of {}."]


def _label_vectors(reference: ReferenceModel, labels: list[str], templates: list[str]) -> NDArray:
    per_prompt = reference.texts([t.replace("{}", label) for label in labels for t in templates])
    mean = per_prompt.reshape(len(labels), len(templates), -1).mean(axis=1)
    return mean / np.linalg.norm(mean, axis=1, keepdims=True)


def _softmax_scores(reference: ReferenceModel, images: NDArray, labels: NDArray) -> NDArray:
    logits = float(reference.model.logit_scale.detach().exp()) * images @ labels.T
    logits -= logits.max(axis=1, keepdims=True)
    return np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)


@pytest.fixture
def labels_file(tmp_path: Path) -> Path:
    path = tmp_path / "my-labels.txt"
    path.write_text("\n".join(LABELS) + "\n")
    return path


@pytest.fixture
def templates_file(tmp_path: Path) -> Path:
    path = tmp_path / "templates.txt"
    path.write_text("\n".join(TEMPLATES) + "\n")
    return path


@pytest.fixture
def indexed(cli: CliRunner, tiny_model: TinyModel, photo_dir: Path) -> list[Path]:
    cli("index", str(photo_dir), *tiny_model.flags, "--json", env=EXACT)
    return sorted(photo_dir.rglob("*.jpg"))


def test_classify_of_an_indexed_photo_equals_open_clip_with_the_prompt_ensemble(
    cli: CliRunner, tiny_model: TinyModel, indexed: list[Path], labels_file: Path
) -> None:
    reference = ReferenceModel(tiny_model)
    expected = _softmax_scores(
        reference,
        reference.images(indexed[:1]),
        _label_vectors(reference, LABELS, list(default_templates())),
    )[0]

    out = cli("classify", str(indexed[0]), "--labels", str(labels_file), "--json", env=EXACT)

    ranking = json.loads(out.stdout)
    assert [r["label"] for r in ranking] == [LABELS[i] for i in np.argsort(-expected)]
    np.testing.assert_allclose([r["score"] for r in ranking], np.sort(expected)[::-1], atol=1e-5)


def test_classify_of_a_photo_outside_the_library_embeds_it_with_given_templates(
    cli: CliRunner,
    tiny_model: TinyModel,
    indexed: list[Path],
    labels_file: Path,
    templates_file: Path,
    tmp_path: Path,
) -> None:
    outside = make_photo(tmp_path / "elsewhere" / "new.jpg", seed=4242)
    reference = ReferenceModel(tiny_model)
    expected = _softmax_scores(
        reference, reference.images([outside]), _label_vectors(reference, LABELS, TEMPLATES)
    )[0]

    out = cli(
        "classify",
        str(outside),
        "--labels",
        str(labels_file),
        "--templates",
        str(templates_file),
        "--top-k",
        "3",
        "--json",
        env=EXACT,
    )

    ranking = json.loads(out.stdout)
    assert [r["label"] for r in ranking] == [LABELS[i] for i in np.argsort(-expected)[:3]]
    np.testing.assert_allclose(
        [r["score"] for r in ranking], np.sort(expected)[::-1][:3], atol=1e-5
    )


def test_tags_of_every_photo_are_its_best_labels_above_the_threshold(
    cli: CliRunner, tiny_model: TinyModel, indexed: list[Path], labels_file: Path
) -> None:
    reference = ReferenceModel(tiny_model)
    expected = _softmax_scores(
        reference,
        reference.images(indexed),
        _label_vectors(reference, LABELS, list(default_templates())),
    )
    threshold = float(np.median(expected))

    out = cli(
        "tag", "--labels", str(labels_file), "--threshold", str(threshold), "-k", "2", "--json"
    )

    assert json.loads(out.stdout)["images"] == len(indexed)
    for path, scores in zip(indexed, expected, strict=True):
        info = json.loads(cli("info", str(path), "--json").stdout)
        got = {t["label"]: t["score"] for t in info["tags"] if t["vocabulary"] == "my-labels"}
        best_two = [i for i in np.argsort(-scores)[:2] if scores[i] >= threshold]
        assert sorted(got) == sorted(LABELS[i] for i in best_two), path
        for label, score in got.items():
            assert score == pytest.approx(scores[LABELS.index(label)], abs=1e-5)


def test_siglip_models_score_each_label_with_their_sigmoid(
    cli: CliRunner, tmp_path: Path, photo_dir: Path, labels_file: Path
) -> None:
    import open_clip
    import torch

    config_path = tmp_path / "tiny-sigmoid-loss.json"
    config_path.write_text(json.dumps({**TINY_CONFIG, "init_logit_bias": -4.0}))
    open_clip.add_model_config(config_path)
    torch.manual_seed(1)
    checkpoint = tmp_path / "tiny-sigmoid-loss.pt"
    torch.save(open_clip.create_model("tiny-sigmoid-loss").state_dict(), checkpoint)
    siglip = TinyModel(config_path, checkpoint)
    cli("index", str(photo_dir), *siglip.flags, env=EXACT)
    photo = sorted(photo_dir.rglob("*.jpg"))[0]
    reference = ReferenceModel(siglip)
    cosines = (
        reference.images([photo]) @ _label_vectors(reference, LABELS, list(default_templates())).T
    )[0]
    scale = float(reference.model.logit_scale.detach().exp())
    logits = scale * cosines + float(reference.model.logit_bias.detach())
    expected = 1 / (1 + np.exp(-logits))

    out = cli("classify", str(photo), "--labels", str(labels_file), "--json", env=EXACT)

    ranking = json.loads(out.stdout)
    assert [r["label"] for r in ranking] == [LABELS[i] for i in np.argsort(-expected)]
    np.testing.assert_allclose([r["score"] for r in ranking], np.sort(expected)[::-1], atol=1e-5)


def test_short_prompt_encoding_equals_the_full_context_text_tower(tiny_model: TinyModel) -> None:
    import open_clip
    import torch

    from searchapp.models.open_clip_text import encode_text_up_to_end

    reference = ReferenceModel(tiny_model)
    tokens = reference.tokenizer(["a dog", "a photo of a birthday cake on a wooden table", "x"])

    with torch.inference_mode():
        short = encode_text_up_to_end(reference.model, tokens)
        full = reference.model.encode_text(tokens)

    assert isinstance(reference.model, open_clip.CLIP)
    torch.testing.assert_close(short, full, atol=1e-5, rtol=1e-5)
