"""The SigLIP path offline: a SigLIP-style open_clip config whose tokenizer comes from Hugging
Face (`hf_tokenizer_name`), here a tokenizer folder the suite trains with `tokenizers`; search
and sigmoid tag scores (with the logit bias) equal open_clip's own computation, and a tokenizer
that is neither a folder nor cached fails at once with what to do."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import CliRunner, TinyModel
from tests.reference import ReferenceModel

EXACT = {"SEARCHAPP_FAST_JPEG_DECODE": "false"}
LABELS = ["dog", "cat", "beach at sunset", "receipt", "snowy mountains"]


def siglip_config(tokenizer: str) -> dict[str, object]:
    """ViT-B-16-SigLIP's layout (open_clip's config), shrunk: a sigmoid loss model with a logit
    bias, a text tower without causal mask pooled at the last token, an HF tokenizer."""
    return {
        "embed_dim": 32,
        "init_logit_bias": -10,
        "custom_text": True,
        "vision_cfg": {"image_size": 32, "layers": 2, "width": 64, "patch_size": 8},
        "text_cfg": {
            "context_length": 16,
            "vocab_size": 300,
            "hf_tokenizer_name": tokenizer,
            "tokenizer_kwargs": {"clean": "canonicalize"},
            "width": 64,
            "heads": 2,
            "layers": 2,
            "no_causal_mask": True,
            "proj_bias": True,
            "pool_type": "last",
            "norm_kwargs": {"eps": 1e-6},
        },
    }


def build_tokenizer(directory: Path) -> Path:
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    from tests.tiny_vlm import CORPUS

    tokenizer = Tokenizer(models.Unigram())
    tokenizer.normalizer = normalizers.Lowercase()
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace()
    tokenizer.decoder = decoders.Metaspace()
    trainer = trainers.UnigramTrainer(
        vocab_size=300, special_tokens=["<pad>", "</s>", "<unk>"], unk_token="<unk>"
    )
    tokenizer.train_from_iterator([*CORPUS, *LABELS, "a photo of a kind of"], trainer)
    wrapped = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, pad_token="<pad>", eos_token="</s>", unk_token="<unk>"
    )
    wrapped.save_pretrained(directory)
    return directory


@dataclass(frozen=True)
class TinySiglip(TinyModel):
    tokenizer_dir: Path


@pytest.fixture(scope="session")
def tiny_siglip(tmp_path_factory: pytest.TempPathFactory) -> TinySiglip:
    import open_clip
    import torch

    directory = tmp_path_factory.mktemp("tiny-siglip")
    tokenizer_dir = build_tokenizer(directory / "tokenizer")
    config_path = directory / "tiny-siglip.json"
    config_path.write_text(json.dumps(siglip_config(str(tokenizer_dir))))
    open_clip.add_model_config(config_path)
    torch.manual_seed(0)
    model = open_clip.create_model("tiny-siglip")
    checkpoint = directory / "tiny-siglip.pt"
    torch.save(model.state_dict(), checkpoint)
    return TinySiglip(config_path, checkpoint, tokenizer_dir)


@pytest.fixture
def indexed(cli: CliRunner, tiny_siglip: TinySiglip, photo_dir: Path) -> list[Path]:
    cli("index", str(photo_dir), *tiny_siglip.flags, "--no-tag", env=EXACT)
    return sorted(photo_dir.rglob("*.jpg"))


def test_the_hf_tokenizer_is_the_one_open_clip_uses(tiny_siglip: TinySiglip) -> None:
    from open_clip.tokenizer import HFTokenizer

    reference = ReferenceModel(tiny_siglip)
    tokens = reference.tokenizer(["A Receipt!", "snowy mountains"])

    assert isinstance(reference.tokenizer, HFTokenizer)
    assert tokens.shape == (2, 16) and int(tokens[0, 0]) != 0


def test_search_ranks_as_open_clip_with_the_hf_tokenizer(
    cli: CliRunner, tiny_siglip: TinySiglip, indexed: list[Path]
) -> None:
    reference = ReferenceModel(tiny_siglip)
    scores = reference.images(indexed) @ reference.texts(["a dog on the beach"])[0]

    out = cli("search", "a dog on the beach", "-k", "12", "--json", env=EXACT)

    results = json.loads(out.stdout)
    assert [r["path"] for r in results] == [str(indexed[i]) for i in np.argsort(-scores)]
    np.testing.assert_allclose([r["score"] for r in results], np.sort(scores)[::-1], atol=2e-4)


def test_classify_scores_are_sigmoids_with_the_logit_bias(
    cli: CliRunner, tiny_siglip: TinySiglip, indexed: list[Path], tmp_path: Path
) -> None:
    labels = tmp_path / "labels.txt"
    labels.write_text("\n".join(LABELS) + "\n")
    templates = tmp_path / "templates.txt"
    templates.write_text("a photo of {}.\n")
    reference = ReferenceModel(tiny_siglip)
    image = reference.images(indexed[:1])[0]
    texts = reference.texts([f"a photo of {label}." for label in LABELS])
    scale = float(reference.model.logit_scale.detach().exp())
    bias = float(reference.model.logit_bias.detach())
    expected = 1 / (1 + np.exp(-(scale * texts @ image + bias)))

    out = cli(
        "classify",
        str(indexed[0]),
        "--labels",
        str(labels),
        "--templates",
        str(templates),
        "--json",
        env=EXACT,
    )

    ranking = {r["label"]: r["score"] for r in json.loads(out.stdout)}
    np.testing.assert_allclose([ranking[label] for label in LABELS], expected, atol=1e-5)
    assert bias == pytest.approx(-10.0)


def test_a_tokenizer_neither_local_nor_cached_fails_at_once_offline(
    cli: CliRunner, tiny_siglip: TinySiglip, tmp_path: Path, photo_dir: Path
) -> None:
    config = tmp_path / "offline-siglip.json"
    config.write_text(json.dumps(siglip_config("example-org/uncached-tokenizer")))
    flags = ("--model-config", str(config), "--pretrained", str(tiny_siglip.checkpoint))

    failed = cli("index", str(photo_dir), *flags, "--no-tag", check=False)

    assert failed.returncode != 0
    assert "tokenizer of offline-siglip" in failed.stderr
    assert "not in the Hugging Face cache" in failed.stderr and "hf download" in failed.stderr


def test_a_hub_tokenizer_id_is_read_from_the_hf_cache_offline(
    cli_process: CliRunner, tiny_siglip: TinySiglip, tmp_path: Path, photo_dir: Path
) -> None:
    repo = "example-org/siglip-tokenizer"
    cache = tmp_path / "hf-cache"
    commit = "0123456789abcdef0123456789abcdef01234567"
    snapshot = cache / f"models--{repo.replace('/', '--')}" / "snapshots" / commit
    shutil.copytree(tiny_siglip.tokenizer_dir, snapshot)
    (snapshot.parents[1] / "refs").mkdir()
    (snapshot.parents[1] / "refs" / "main").write_text(commit)
    config = tmp_path / "cached-siglip.json"
    config.write_text(json.dumps(siglip_config(repo)))
    flags = ("--model-config", str(config), "--pretrained", str(tiny_siglip.checkpoint))
    env = {**EXACT, "HF_HUB_CACHE": str(cache), "HF_HUB_OFFLINE": "1"}

    cli_process("index", str(photo_dir), *flags, "--no-tag", env=env)
    out = cli_process("search", "a dog on the beach", "-k", "3", "--json", env=env)

    reference = ReferenceModel(tiny_siglip)
    paths = sorted(photo_dir.rglob("*.jpg"))
    scores = reference.images(paths) @ reference.texts(["a dog on the beach"])[0]
    assert [r["path"] for r in json.loads(out.stdout)] == [
        str(paths[i]) for i in np.argsort(-scores)[:3]
    ]
