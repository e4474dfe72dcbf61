"""`searchapp caption` and `searchapp ask` as a user runs them, with the tiny LLaVA on disk and
with an OpenAI-compatible server on loopback; failures are one line, never a traceback."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from searchapp.config import Settings
from searchapp.vlm import Prompt, Turn, load_vlm
from searchapp.vlm.images import read_photo
from tests.conftest import CliRunner, TinyModel
from tests.openai_server import ANSWER_PIECES, ServerState, openai_server
from tests.photos import make_photo

VLM_ENV = {
    "SEARCHAPP_VLM_DEVICE": "cpu",
    "SEARCHAPP_VLM_PRECISION": "fp32",
    "SEARCHAPP_VLM_MAX_NEW_TOKENS": "6",
}


@pytest.fixture
def indexed(cli: CliRunner, tiny_model: TinyModel, photo_dir: Path) -> list[Path]:
    cli("index", str(photo_dir), *tiny_model.flags, "--no-tag")
    return sorted(photo_dir.rglob("*.jpg"))


@pytest.fixture
def server() -> Iterator[tuple[str, ServerState]]:
    with openai_server() as running:
        yield running


def direct_answer(model: Path, photo: Path, question: str, history: tuple[Turn, ...] = ()) -> str:
    settings = Settings(
        vlm_model=str(model), vlm_device="cpu", vlm_precision="fp32", vlm_max_new_tokens=6
    )
    image = read_photo(photo, settings.vlm_image_side)
    return load_vlm(settings).answer(
        Prompt((image,), question, history), settings.vlm_max_new_tokens
    )


def test_caption_of_an_indexed_photo_is_stored_and_reused(
    cli: CliRunner, indexed: list[Path], tiny_llava: Path
) -> None:
    flags = ("--vlm-model", str(tiny_llava), "--json")

    first = json.loads(cli("caption", str(indexed[0]), *flags, env=VLM_ENV).stdout)
    again = json.loads(cli("caption", str(indexed[0]), *flags, env=VLM_ENV).stdout)
    redone = json.loads(cli("caption", str(indexed[0]), *flags, "--refresh", env=VLM_ENV).stdout)

    prompt = Settings().vlm_caption_prompt
    assert first["caption"] == direct_answer(tiny_llava, indexed[0], prompt)
    assert first["model"] == f"transformers:{tiny_llava}"
    assert (first["cached"], again["cached"], redone["cached"]) == (False, True, False)
    assert again["caption"] == redone["caption"] == first["caption"]


def test_caption_of_a_photo_outside_the_library_is_printed_not_stored(
    cli: CliRunner, indexed: list[Path], tiny_llava: Path, tmp_path: Path
) -> None:
    outside = make_photo(tmp_path / "elsewhere" / "new.jpg", seed=999)
    flags = ("--vlm-model", str(tiny_llava))

    out = cli("caption", str(outside), *flags, env=VLM_ENV).stdout
    again = json.loads(cli("caption", str(outside), *flags, "--json", env=VLM_ENV).stdout)

    assert out.strip() == again["caption"]
    assert again["cached"] is False


def test_caption_all_then_search_hybrid_finds_a_caption_word(
    cli: CliRunner, indexed: list[Path], tiny_llava: Path
) -> None:
    out = cli("caption", "--all", "--vlm-model", str(tiny_llava), "--json", env=VLM_ENV)

    run = json.loads(out.stdout)
    assert (run["captioned"], run["remaining"]) == (len(indexed), 0)
    again = json.loads(
        cli("caption", "--all", "--vlm-model", str(tiny_llava), "--json", env=VLM_ENV).stdout
    )
    assert again["captioned"] == 0


def test_ask_answers_with_the_model_and_streams_the_same_text(
    cli: CliRunner, indexed: list[Path], tiny_llava: Path
) -> None:
    question = "Is anyone wearing glasses?"
    flags = ("--vlm-model", str(tiny_llava))

    answer = json.loads(cli("ask", str(indexed[2]), question, *flags, "--json", env=VLM_ENV).stdout)
    streamed = cli("ask", str(indexed[2]), question, *flags, env=VLM_ENV).stdout

    assert answer["answer"] == direct_answer(tiny_llava, indexed[2], question)
    assert answer["question"] == question
    assert streamed.strip() == answer["answer"]


def test_ask_chat_reads_follow_up_questions_with_the_earlier_turns(
    data_dir: Path, indexed: list[Path], tiny_llava: Path
) -> None:
    from typer.testing import CliRunner as TyperRunner

    from searchapp.cli.app import app

    env = {**VLM_ENV, "SEARCHAPP_DATA_DIR": str(data_dir), "HF_HUB_OFFLINE": "1"}
    args = ["ask", str(indexed[0]), "What is this?", "--chat", "--json"]
    outcome = TyperRunner().invoke(
        app, [*args, "--vlm-model", str(tiny_llava)], input="And the sign?\n\n", env=env
    )

    assert outcome.exit_code == 0, outcome.output
    first, second = json.loads(outcome.stdout)
    history = (Turn("user", "What is this?"), Turn("assistant", first["answer"]))
    assert second["answer"] == direct_answer(tiny_llava, indexed[0], "And the sign?", history)


def test_ask_through_an_openai_compatible_server(
    cli: CliRunner, indexed: list[Path], server: tuple[str, ServerState]
) -> None:
    url, state = server
    flags = ("--vlm-backend", "openai", "--vlm-url", url, "--vlm-model", "llava:7b")

    out = cli("ask", str(indexed[0]), "What is it?", *flags, "--vlm-key", "sk-1")

    assert out.stdout.strip() == "".join(ANSWER_PIECES)
    assert state.requests[0]["model"] == "llava:7b" and state.requests[0]["stream"] is True
    assert state.headers[0]["Authorization"] == "Bearer sk-1"


def test_an_unreachable_server_is_one_line_and_search_still_works(
    cli: CliRunner, indexed: list[Path]
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    flags = ("--vlm-backend", "openai", "--vlm-url", f"http://127.0.0.1:{port}/v1")

    failed = cli("caption", str(indexed[0]), *flags, "--vlm-model", "llava", check=False)

    assert failed.returncode == 1
    assert failed.stderr.startswith("Error: Cannot reach the VLM endpoint")
    assert "Traceback" not in failed.stderr and len(failed.stderr.strip().splitlines()) == 1
    assert json.loads(cli("search", "a dog", "--json").stdout)


def test_a_missing_vlm_model_is_one_line(
    cli: CliRunner, indexed: list[Path], tmp_path: Path
) -> None:
    failed = cli(
        "ask", str(indexed[0]), "hi", "--vlm-model", str(tmp_path / "nothing"), check=False
    )

    assert failed.returncode == 1
    assert failed.stderr.startswith("Error: No VLM folder at")


def test_caption_without_a_photo_or_all_says_what_to_give(cli: CliRunner) -> None:
    failed = cli("caption", check=False)

    assert failed.returncode == 1
    assert "Give either a photo, or --all, or --folder DIR." in failed.stderr
