"""Text queries after the first run without torch: the exported text tower on ONNX Runtime and
CLIP's tokenizer, equal to open_clip's."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from searchapp.models.clip_tokenizer import PLAIN_TEXT, ClipTokenizer, open_clip_bpe_path
from tests.conftest import BASE_ENV, CliRunner, TinyModel
from tests.photos import make_photo

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


SINGLE_PHOTO_COMMANDS = {
    "similar": ["similar", "{outside}", "--json"],
    "classify": ["classify", "{outside}", "--json"],
    "tag": ["tag", "--threshold", "0.05", "--json"],
    "models": ["models"],
}


@pytest.mark.parametrize("command", list(SINGLE_PHOTO_COMMANDS))
def test_single_photo_commands_import_neither_torch_nor_open_clip(
    cli: CliRunner,
    tiny_model: TinyModel,
    photo_dir: Path,
    data_dir: Path,
    tmp_path: Path,
    command: str,
) -> None:
    cli("index", str(photo_dir), *tiny_model.flags)
    outside = make_photo(tmp_path / "elsewhere" / "query.jpg", seed=77)
    args = [arg.format(outside=outside) for arg in SINGLE_PHOTO_COMMANDS[command]]
    code = (
        "import sys\n"
        "from searchapp.cli.app import app\n"
        "try:\n"
        f"    app({args!r})\n"
        "except SystemExit as exit:\n"
        "    assert not exit.code, exit.code\n"
        "print('heavy imports:', sorted({'torch', 'open_clip'} & set(sys.modules)))\n"
    )
    env = {**os.environ, **BASE_ENV, "SEARCHAPP_DATA_DIR": str(data_dir)}

    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    )

    assert done.stdout.rstrip().endswith("heavy imports: []")


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.characters(max_codepoint=0x7F), max_size=60))
def test_text_the_tokenizer_leaves_to_itself_is_what_ftfy_leaves_unchanged(text: str) -> None:
    import ftfy

    if PLAIN_TEXT.fullmatch(text):
        assert ftfy.fix_text(text) == text


@settings(max_examples=150, deadline=None)
@given(st.text(alphabet=st.characters(max_codepoint=0x17F), max_size=40))
def test_clip_tokenizer_gives_open_clips_tokens_for_any_text(text: str) -> None:
    ours, open_clips = _tokenizers()

    np.testing.assert_array_equal(ours([text]), open_clips([text]).numpy())


@lru_cache
def _tokenizers() -> tuple[ClipTokenizer, Any]:
    import open_clip

    bpe = open_clip_bpe_path()
    assert bpe is not None
    return ClipTokenizer(bpe, context_length=77), open_clip.get_tokenizer("ViT-B-32")
