"""Text queries after the first run without torch: a NumPy copy of the text tower and CLIP's
tokenizer, both equal to open_clip's."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from searchapp.models import numpy_text_tower
from searchapp.models.clip_tokenizer import ClipTokenizer, open_clip_bpe_path
from tests.conftest import BASE_ENV, TINY_CONFIG, CliRunner, TinyModel
from tests.reference import ReferenceModel

TRICKY_TEXTS = [
    "a dog",
    "Kids on a beach at sunset!",
    "ÉTÉ 2024 — café ☕ #42 &amp; friends",
    "  tabs\tand\nnew lines   ",
    "it's what we'll do, isn't it?",
    "日本語のテキスト 🐶🐱",
    "a very long query " * 30,
]


def test_clip_tokenizer_gives_open_clips_tokens() -> None:
    import open_clip

    bpe = open_clip_bpe_path()
    assert bpe is not None

    ours = ClipTokenizer(bpe, context_length=77)(TRICKY_TEXTS)

    np.testing.assert_array_equal(ours, open_clip.get_tokenizer("ViT-B-32")(TRICKY_TEXTS).numpy())


@pytest.mark.parametrize("quick_gelu", [False, True], ids=["gelu", "quick-gelu"])
def test_numpy_text_tower_equals_open_clips_text_tower(tmp_path: Path, quick_gelu: bool) -> None:
    import open_clip
    import torch

    name = f"tiny-numpy-{'quick' if quick_gelu else 'gelu'}"
    config_path = tmp_path / f"{name}.json"
    config_path.write_text(json.dumps({**TINY_CONFIG, "quick_gelu": quick_gelu}))
    open_clip.add_model_config(config_path)
    torch.manual_seed(3)
    checkpoint = tmp_path / f"{name}.pt"
    torch.save(open_clip.create_model(name).state_dict(), checkpoint)
    reference = ReferenceModel(TinyModel(config_path, checkpoint))
    extracted = numpy_text_tower.extract(reference.model)
    assert extracted is not None
    config, weights = extracted
    numpy_text_tower.save(
        tmp_path / "saved", {**config, "context_length": 77, "clean": "lower"}, weights
    )

    tower = numpy_text_tower.load(tmp_path / "saved")

    assert tower is not None
    np.testing.assert_allclose(
        tower.encode_texts(TRICKY_TEXTS), reference.texts(TRICKY_TEXTS), atol=1e-5
    )


def test_a_text_query_after_the_first_does_not_import_torch(
    cli: CliRunner, tiny_model: TinyModel, photo_dir: Path, data_dir: Path
) -> None:
    cli("index", str(photo_dir), *tiny_model.flags)
    first = json.loads(cli("search", "a red circle", "--json").stdout)
    code = (
        "import sys\n"
        "from searchapp.cli.app import app\n"
        "try:\n"
        "    app(['search', 'a red circle', '--json'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "print('torch imported:', 'torch' in sys.modules)\n"
    )
    env = {**os.environ, **BASE_ENV, "SEARCHAPP_DATA_DIR": str(data_dir)}

    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    )

    results, _, flag = done.stdout.rpartition("torch imported:")
    assert flag.strip() == "False"
    second = json.loads(results)
    assert [r["path"] for r in second] == [r["path"] for r in first]
    np.testing.assert_allclose([r["score"] for r in second], [r["score"] for r in first], atol=1e-5)
